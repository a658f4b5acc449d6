package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// productionEnv is a complete production configuration, to which a case
// adds its retention settings.
func productionEnv(t *testing.T) map[string]string {
	dir := t.TempDir()
	return map[string]string{
		"HEALTHCODE_MODE": "production", "HEALTHCODE_WECHAT_APP_ID": "wx1", "HEALTHCODE_WECHAT_APP_SECRET": "s",
		"HEALTHCODE_ENCRYPTION_KEY_FILE": filepath.Join(dir, "e"), "HEALTHCODE_HASH_KEY_FILE": filepath.Join(dir, "h"),
		"HEALTHCODE_SESSION_KEY_FILE": filepath.Join(dir, "s"), "HEALTHCODE_SIGNING_KEY_DIR": filepath.Join(dir, "signing"),
		"HEALTHCODE_OPERATOR_KEYS": "an-operator-key-of-enough-length",
	}
}

// Development lets the purge be tried with retention of a second;
// production refuses less than an hour; audit rows are kept 180 days in
// every mode.
func TestValidateRetention(t *testing.T) {
	tests := []struct {
		name       string
		production bool
		env        map[string]string
		want       string // empty: valid
	}{
		{"development defaults", false, nil, ""},
		{"production defaults", true, nil, ""},
		{"development, scans and tickets a second", false,
			map[string]string{"HEALTHCODE_RETENTION_SCANS": "1s", "HEALTHCODE_RETENTION_TICKETS": "1s", "HEALTHCODE_RETENTION_INTERVAL": "1s"}, ""},
		{"development, scans under a second", false, map[string]string{"HEALTHCODE_RETENTION_SCANS": "500ms"}, "HEALTHCODE_RETENTION_SCANS must be at least 1s"},
		{"development, tickets zero", false, map[string]string{"HEALTHCODE_RETENTION_TICKETS": "0s"}, "HEALTHCODE_RETENTION_TICKETS must be at least 1s"},
		{"production, scans an hour", true, map[string]string{"HEALTHCODE_RETENTION_SCANS": "1h", "HEALTHCODE_RETENTION_TICKETS": "1h"}, ""},
		{"production, scans a second", true, map[string]string{"HEALTHCODE_RETENTION_SCANS": "1s"}, "HEALTHCODE_RETENTION_SCANS must be at least 1h0m0s in production"},
		{"production, tickets 59m", true, map[string]string{"HEALTHCODE_RETENTION_TICKETS": "59m"}, "HEALTHCODE_RETENTION_TICKETS must be at least 1h0m0s in production"},
		{"production, samples 59m", true, map[string]string{"HEALTHCODE_RETENTION_SAMPLES": "59m"}, "HEALTHCODE_RETENTION_SAMPLES must be at least 168h0m0s in production"},
		{"production, samples a day short of a week", true, map[string]string{"HEALTHCODE_RETENTION_SAMPLES": "144h"}, "HEALTHCODE_RETENTION_SAMPLES must be at least 168h0m0s in production"},
		{"production, samples a week", true, map[string]string{"HEALTHCODE_RETENTION_SAMPLES": "168h"}, ""},
		{"development, samples a second", false, map[string]string{"HEALTHCODE_RETENTION_SAMPLES": "1s"}, ""},
		{"development, audit a second", false, map[string]string{"HEALTHCODE_RETENTION_AUDIT": "1s"}, "HEALTHCODE_RETENTION_AUDIT must be at least 4320h"},
		{"development, audit a day short", false, map[string]string{"HEALTHCODE_RETENTION_AUDIT": "4296h"}, "HEALTHCODE_RETENTION_AUDIT must be at least 4320h"},
		{"production, audit a day short", true, map[string]string{"HEALTHCODE_RETENTION_AUDIT": "4296h"}, "HEALTHCODE_RETENTION_AUDIT must be at least 4320h"},
		{"production, audit a year", true, map[string]string{"HEALTHCODE_RETENTION_AUDIT": "8760h"}, ""},
		{"production, purge every second", true, map[string]string{"HEALTHCODE_RETENTION_INTERVAL": "1s"}, "HEALTHCODE_RETENTION_INTERVAL must be between 1m0s and 24h"},
		{"development, purge every two days", false, map[string]string{"HEALTHCODE_RETENTION_INTERVAL": "48h"}, "HEALTHCODE_RETENTION_INTERVAL must be between 1s and 24h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			if tt.production {
				env = productionEnv(t)
			}
			for k, v := range tt.env {
				env[k] = v
			}
			cfg, err := Load("", envOf(env))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want valid", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want it to say %q", err, tt.want)
			}
		})
	}
}
