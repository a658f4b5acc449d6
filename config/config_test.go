package config

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsRunOnAFreshMachine(t *testing.T) {
	cfg, err := Load("", envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if cfg.Addr != "127.0.0.1:8080" || cfg.DataDir != "./data" || cfg.DB.Driver != "sqlite" || !cfg.SandboxEnabled() {
		t.Errorf("unexpected defaults: %+v", cfg)
	}
	if cfg.Location().String() != "Asia/Shanghai" {
		t.Errorf("time zone %s", cfg.Location())
	}
}

func TestEnvironmentOverridesFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hc.json")
	os.WriteFile(file, []byte(`{"addr":"0.0.0.0:9000","region":"440100","db":{"max_open_conns":5},"session_ttl":"1h"}`), 0o600)
	cfg, err := Load(file, envOf(map[string]string{
		"HEALTHCODE_ADDR":                 "127.0.0.1:9999",
		"HEALTHCODE_HTTP_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1",
		"HEALTHCODE_HTTP_IDLE_TIMEOUT":    "30s",
		"HEALTHCODE_DB_AUTO_MIGRATE":      "false",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9999" {
		t.Errorf("Addr = %s, want the environment's", cfg.Addr)
	}
	if cfg.Region != "440100" || cfg.DB.MaxOpenConns != 5 || cfg.SessionTTL.D() != time.Hour {
		t.Errorf("file values lost: %+v", cfg)
	}
	if got := strings.Join(cfg.HTTP.TrustedProxies, "|"); got != "10.0.0.0/8|192.168.1.1" {
		t.Errorf("TrustedProxies = %q", got)
	}
	if cfg.HTTP.IdleTimeout.D() != 30*time.Second || cfg.DB.AutoMigrate {
		t.Errorf("env values lost: %+v", cfg)
	}
}

func TestLoadErrorsNameTheCulprit(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hc.json")
	os.WriteFile(file, []byte(`{"adress":"typo"}`), 0o600)
	if _, err := Load(file, envOf(nil)); err == nil || !strings.Contains(err.Error(), "adress") {
		t.Errorf("unknown file field: err = %v", err)
	}
	if _, err := Load("", envOf(map[string]string{"HEALTHCODE_SESSION_TTL": "a week"})); err == nil || !strings.Contains(err.Error(), "HEALTHCODE_SESSION_TTL") {
		t.Errorf("bad duration: err = %v", err)
	}
	if _, err := Load("", envOf(map[string]string{"HEALTHCODE_DB_MAX_OPEN_CONNS": "many"})); err == nil || !strings.Contains(err.Error(), "HEALTHCODE_DB_MAX_OPEN_CONNS") {
		t.Errorf("bad number: err = %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"bad mode", map[string]string{"HEALTHCODE_MODE": "staging"}, []string{"HEALTHCODE_MODE"}},
		{"bad driver", map[string]string{"HEALTHCODE_DB_DRIVER": "postgres"}, []string{"HEALTHCODE_DB_DRIVER"}},
		{"mysql without dsn", map[string]string{"HEALTHCODE_DB_DRIVER": "mysql"}, []string{"HEALTHCODE_DB_DSN"}},
		{"unknown zone", map[string]string{"HEALTHCODE_TIME_ZONE": "Mars/Olympus"}, []string{"HEALTHCODE_TIME_ZONE"}},
		{"wechat without secret", map[string]string{"HEALTHCODE_WECHAT_APP_ID": "wx1"}, []string{"HEALTHCODE_WECHAT_APP_SECRET"}},
		{"no platform timeout", map[string]string{"HEALTHCODE_PLATFORM_TIMEOUT": "0s"}, []string{"HEALTHCODE_PLATFORM_TIMEOUT"}},
		{"platform timeout of a minute", map[string]string{"HEALTHCODE_PLATFORM_TIMEOUT": "1m"}, []string{"HEALTHCODE_PLATFORM_TIMEOUT"}},
		{"platform timeout past the write timeout", map[string]string{"HEALTHCODE_PLATFORM_TIMEOUT": "20s", "HEALTHCODE_HTTP_WRITE_TIMEOUT": "20s"},
			[]string{"HEALTHCODE_PLATFORM_TIMEOUT"}},
		{"no query timeout", map[string]string{"HEALTHCODE_DB_QUERY_TIMEOUT": "0s"}, []string{"HEALTHCODE_DB_QUERY_TIMEOUT"}},
		{"query timeout past the write timeout", map[string]string{"HEALTHCODE_DB_QUERY_TIMEOUT": "20s"}, []string{"HEALTHCODE_DB_QUERY_TIMEOUT"}},
		{"peer key without a region", map[string]string{"HEALTHCODE_PEER_KEYS": "a-peer-region-key-of-enough-length"}, []string{"HEALTHCODE_PEER_KEYS"}},
		{"short peer key", map[string]string{"HEALTHCODE_PEER_KEYS": "440300=short"}, []string{"HEALTHCODE_PEER_KEYS"}},
		{"production with the sandbox", map[string]string{"HEALTHCODE_MODE": "production", "HEALTHCODE_SANDBOX": "true"},
			[]string{"refuses the sandbox", "refuses generated development keys", "needs a mini-program platform"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load("", envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			for _, want := range tt.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %v, want it to mention %q", err, want)
				}
			}
		})
	}

	dir := t.TempDir()
	cfg, _ := Load("", envOf(map[string]string{
		"HEALTHCODE_MODE": "production", "HEALTHCODE_WECHAT_APP_ID": "wx1", "HEALTHCODE_WECHAT_APP_SECRET": "s",
		"HEALTHCODE_ENCRYPTION_KEY_FILE": filepath.Join(dir, "e"), "HEALTHCODE_HASH_KEY_FILE": filepath.Join(dir, "h"),
		"HEALTHCODE_SESSION_KEY_FILE": filepath.Join(dir, "s"), "HEALTHCODE_SIGNING_KEY_DIR": filepath.Join(dir, "signing"),
		"HEALTHCODE_OPERATOR_KEYS": "an-operator-key-of-enough-length,another-operator-key-of-length",
	}))
	if err := cfg.Validate(); err != nil {
		t.Errorf("a complete production configuration does not validate: %v", err)
	}
	if cfg.SandboxEnabled() {
		t.Error("production enables the sandbox by default")
	}
	if len(cfg.OperatorKeys) != 2 || strings.Contains(cfg.String(), "an-operator-key") {
		t.Errorf("operator keys %d, printed: %s", len(cfg.OperatorKeys), cfg.String())
	}
}

func TestStringMasksSecrets(t *testing.T) {
	cfg := Default()
	cfg.WeChat.AppSecret = "wechat-secret-value"
	cfg.Alipay.EncryptKey = "alipay-aes-key"
	cfg.DB.DSN = "root:hunter2@tcp(db)/hc"
	out := cfg.String()
	for _, s := range []string{"wechat-secret-value", "alipay-aes-key", "hunter2"} {
		if strings.Contains(out, s) {
			t.Errorf("String() shows %q", s)
		}
	}
	if cfg.WeChat.AppSecret != "wechat-secret-value" {
		t.Error("String() changed the configuration")
	}
}

func TestDevelopmentKeysAreGeneratedOnceAndKept(t *testing.T) {
	cfg := Default()
	cfg.DataDir = t.TempDir()
	first, err := LoadKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	second, err := LoadKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if string(first.Encryption) != string(second.Encryption) || string(first.Session) != string(second.Session) {
		t.Error("keys changed between runs: data sealed yesterday would not open")
	}
	if string(first.Encryption) == string(first.Hash) || len(first.Hash) != KeySize {
		t.Error("keys are not independent 32-byte keys")
	}
	if first.NewOperatorKey == "" || second.NewOperatorKey != "" || second.OperatorKeys[0] != first.NewOperatorKey {
		t.Errorf("the operator key must be generated once, shown once and kept: %q %q", first.NewOperatorKey, second.NewOperatorKey)
	}
	info, _ := os.Stat(filepath.Join(cfg.DataDir, "keys", "encryption.key"))
	if info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", info.Mode().Perm())
	}
}

func TestProductionRefusesDevelopmentKeys(t *testing.T) {
	dev := Default()
	dev.DataDir = t.TempDir()
	if _, err := LoadKeys(dev); err != nil {
		t.Fatal(err)
	}
	keyDir := filepath.Join(dev.DataDir, "keys")
	real := filepath.Join(t.TempDir(), "real.key")
	os.WriteFile(real, []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n"), 0o600)

	prod := dev
	prod.Mode = ModeProduction
	prod.Keys = Keys{EncryptionKeyFile: real, HashKeyFile: real, SessionKeyFile: filepath.Join(keyDir, "session.key")}
	if _, err := LoadKeys(prod); err == nil || !strings.Contains(err.Error(), "development key") {
		t.Errorf("production with a generated key: err = %v", err)
	}
	prod.Keys.SessionKeyFile = real
	if _, err := LoadKeys(prod); err != nil {
		t.Errorf("production with real keys: %v", err)
	}
	short := filepath.Join(t.TempDir(), "short.key")
	os.WriteFile(short, []byte("c2hvcnQ=\n"), 0o600)
	prod.Keys.HashKeyFile = short
	if _, err := LoadKeys(prod); err == nil || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Errorf("short key: err = %v (must fail without echoing the key)", err)
	}
}

// Profiles expose the heap: pprof listens on loopback unless the operator
// says otherwise, and the metrics listener needs an address of its own.
func TestListenerAddresses(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string // "" means valid
	}{
		{map[string]string{"HEALTHCODE_PPROF_ADDR": "127.0.0.1:6061"}, ""},
		{map[string]string{"HEALTHCODE_PPROF_ADDR": "localhost:6061"}, ""},
		{map[string]string{"HEALTHCODE_PPROF_ADDR": "[::1]:6061"}, ""},
		{map[string]string{"HEALTHCODE_PPROF_ADDR": ":6061"}, "not a loopback address"},
		{map[string]string{"HEALTHCODE_PPROF_ADDR": "0.0.0.0:6061"}, "not a loopback address"},
		{map[string]string{"HEALTHCODE_PPROF_ADDR": "10.0.0.5:6061"}, "HEALTHCODE_PPROF_ALLOW_REMOTE"},
		{map[string]string{"HEALTHCODE_PPROF_ADDR": "profiles.internal:6061"}, "not a loopback address"},
		{map[string]string{"HEALTHCODE_PPROF_ADDR": "0.0.0.0:6061", "HEALTHCODE_PPROF_ALLOW_REMOTE": "true"}, ""},
		{map[string]string{"HEALTHCODE_PPROF_ADDR": "6061"}, "HEALTHCODE_PPROF_ADDR: \"6061\" is not host:port"},
		{map[string]string{"HEALTHCODE_METRICS_ADDR": "0.0.0.0:9100"}, ""},
		{map[string]string{"HEALTHCODE_METRICS_ADDR": "127.0.0.1:0", "HEALTHCODE_ADDR": "127.0.0.1:0"}, ""},
		{map[string]string{"HEALTHCODE_METRICS_ADDR": "9100"}, "HEALTHCODE_METRICS_ADDR: \"9100\" is not host:port"},
		{map[string]string{"HEALTHCODE_METRICS_ADDR": "127.0.0.1:8080"}, "must differ from HEALTHCODE_ADDR"},
		{map[string]string{"HEALTHCODE_METRICS_ADDR": "127.0.0.1:6061", "HEALTHCODE_PPROF_ADDR": "127.0.0.1:6061"}, "must differ"},
	}
	for _, tt := range tests {
		cfg, err := Load("", envOf(tt.env))
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v: Validate() = %v, want valid", tt.env, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%v: Validate() = %v, want it to mention %q", tt.env, err, tt.want)
		}
	}
}
