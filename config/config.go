// Package config holds the service's typed configuration: its defaults, which
// run on a fresh machine with no setup (embedded SQLite, the sandbox platform,
// development keys generated under the data directory), and its loading from an
// optional JSON file and from HEALTHCODE_* environment variables.
package config

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"
	_ "time/tzdata" // the configured zone loads on machines without zone data
)

// Modes the service runs in.
const (
	ModeDevelopment = "development"
	ModeProduction  = "production"
)

// Database drivers the store supports.
const (
	DriverSQLite = "sqlite"
	DriverMySQL  = "mysql"
)

// Config is the whole configuration of the service. Field tags name the
// environment variable that overrides a field (env) and mark values that are
// never printed (secret).
type Config struct {
	Mode     string `json:"mode" env:"HEALTHCODE_MODE"`
	Addr     string `json:"addr" env:"HEALTHCODE_ADDR"`
	DataDir  string `json:"data_dir" env:"HEALTHCODE_DATA_DIR"`
	TimeZone string `json:"time_zone" env:"HEALTHCODE_TIME_ZONE"`
	// Region is the issuing region code written into codes (e.g. "310000").
	Region string `json:"region" env:"HEALTHCODE_REGION"`
	// LogFormat is "text" or "json"; LogLevel is debug, info, warn or error.
	LogFormat string `json:"log_format" env:"HEALTHCODE_LOG_FORMAT"`
	LogLevel  string `json:"log_level" env:"HEALTHCODE_LOG_LEVEL"`

	DB     DB     `json:"db"`
	HTTP   HTTP   `json:"http"`
	Keys   Keys   `json:"keys"`
	WeChat WeChat `json:"wechat"`
	Alipay Alipay `json:"alipay"`
	// PlatformTimeout bounds every call to WeChat or Alipay (all the
	// requests one call makes); a platform that has not answered by then is
	// treated as down (503 with Retry-After).
	PlatformTimeout Duration `json:"platform_timeout" env:"HEALTHCODE_PLATFORM_TIMEOUT"`

	// Sandbox enables the local sandbox platform: "auto" (on in development,
	// off in production), "true" or "false".
	Sandbox string `json:"sandbox" env:"HEALTHCODE_SANDBOX"`
	// SessionTTL is how long a login token lives.
	SessionTTL Duration `json:"session_ttl" env:"HEALTHCODE_SESSION_TTL"`

	RateLimit RateLimit `json:"rate_limit"`

	// CodeTTL is how long a dynamic code lives.
	CodeTTL Duration `json:"code_ttl" env:"HEALTHCODE_CODE_TTL"`
	// ClockSkew is how far a verifier's and the issuer's clocks may disagree.
	ClockSkew Duration `json:"clock_skew" env:"HEALTHCODE_CLOCK_SKEW"`
	// OperatorKeys authorise operator requests (`Authorization: Operator <key>`).
	// Empty in development means a key generated under <data dir>/keys.
	OperatorKeys []string `json:"operator_keys" env:"HEALTHCODE_OPERATOR_KEYS" secret:"true"`
	// PeerKeys authorise peer regions (`Authorization: Peer <key>`) on the
	// offline-code revocation feed, each "<region code>=<key>".
	PeerKeys []string `json:"peer_keys" env:"HEALTHCODE_PEER_KEYS" secret:"true"`
	// ImportMaxBytes bounds an uploaded list.
	ImportMaxBytes int64 `json:"import_max_bytes" env:"HEALTHCODE_IMPORT_MAX_BYTES"`

	// PprofAddr, when set, serves net/http/pprof on its own listener:
	// profiles of a loaded server. Validate refuses an address that is not
	// loopback unless PprofAllowRemote is set: profiles expose the heap.
	PprofAddr        string `json:"pprof_addr" env:"HEALTHCODE_PPROF_ADDR"`
	PprofAllowRemote bool   `json:"pprof_allow_remote" env:"HEALTHCODE_PPROF_ALLOW_REMOTE"`
	// MetricsAddr, when set, serves /metrics on its own listener instead of
	// the public one, so the exposition need not be public.
	MetricsAddr string `json:"metrics_addr" env:"HEALTHCODE_METRICS_ADDR"`

	Admission   Admission   `json:"admission"`
	GroupCommit GroupCommit `json:"group_commit"`
	Retention   Retention   `json:"retention"`
}

// MinAuditRetention is the shortest audit retention any mode accepts: 180
// days (models.MinAuditRetention holds the store to the same).
const MinAuditRetention = 4320 * time.Hour

// MinSampleRetention is the shortest sampling retention production
// accepts: a week, well beyond a tube's filling and its lab result.
const MinSampleRetention = 168 * time.Hour

// Retention says how long records are kept before the purge removes them,
// and how often it runs.
type Retention struct {
	// Scans is how long verification records (and face verifications) are
	// kept.
	Scans Duration `json:"scans" env:"HEALTHCODE_RETENTION_SCANS"`
	// Tickets is how long a page ticket is kept after it expired.
	Tickets Duration `json:"tickets" env:"HEALTHCODE_RETENTION_TICKETS"`
	// CheckIns is how long venue check-ins are kept after the scan.
	CheckIns Duration `json:"checkins" env:"HEALTHCODE_RETENTION_CHECKINS"`
	// Samples is how long a sampling tube and its registrations are kept
	// after the tube was opened.
	Samples Duration `json:"samples" env:"HEALTHCODE_RETENTION_SAMPLES"`
	// Audit is how long audit rows are kept: at least MinAuditRetention.
	Audit Duration `json:"audit" env:"HEALTHCODE_RETENTION_AUDIT"`
	// Interval is roughly how often serve purges (each wait is jittered).
	Interval Duration `json:"interval" env:"HEALTHCODE_RETENTION_INTERVAL"`
}

// Admission bounds the work the server takes on at once: beyond MaxInFlight
// requests, up to MaxQueue wait at most MaxWait for a slot; the rest are
// answered 503 busy at once, so latency stays bounded under any load.
type Admission struct {
	MaxInFlight int      `json:"max_in_flight" env:"HEALTHCODE_ADMISSION_MAX_IN_FLIGHT"`
	MaxQueue    int      `json:"max_queue" env:"HEALTHCODE_ADMISSION_MAX_QUEUE"`
	MaxWait     Duration `json:"max_wait" env:"HEALTHCODE_ADMISSION_MAX_WAIT"`
	// MaxDelay sheds a request that waited longer than this between its
	// first bytes arriving and reaching the handlers (saturated cores);
	// 0 turns the check off.
	MaxDelay Duration `json:"max_delay" env:"HEALTHCODE_ADMISSION_MAX_DELAY"`
}

// GroupCommit bounds the writer that records verifications in batches.
type GroupCommit struct {
	MaxBatch int      `json:"max_batch" env:"HEALTHCODE_GROUP_COMMIT_MAX_BATCH"`
	MaxWait  Duration `json:"max_wait" env:"HEALTHCODE_GROUP_COMMIT_MAX_WAIT"`
	Queue    int      `json:"queue" env:"HEALTHCODE_GROUP_COMMIT_QUEUE"`
	// Writers commit batches in parallel; 0 means 1 on SQLite and 4 on MySQL.
	Writers int `json:"writers" env:"HEALTHCODE_GROUP_COMMIT_WRITERS"`
}

// RateLimit bounds how often one client address or one account may call the
// costly endpoints: login, identity and face, codes, scans and page tickets
// (requests per minute; bursts of the same size are allowed).
type RateLimit struct {
	LoginPerMinuteIP      int `json:"login_per_minute_ip" env:"HEALTHCODE_RATE_LOGIN_PER_MINUTE_IP"`
	IdentityPerMinuteIP   int `json:"identity_per_minute_ip" env:"HEALTHCODE_RATE_IDENTITY_PER_MINUTE_IP"`
	IdentityPerMinuteUser int `json:"identity_per_minute_account" env:"HEALTHCODE_RATE_IDENTITY_PER_MINUTE_ACCOUNT"`
	// CodePerMinuteUser bounds codes shown per account (pages refresh about
	// once a minute); VerifyPerMinuteUser bounds scans per verifier.
	// The relatives' codes and status lookups spend the same tokens.
	CodePerMinuteUser   int `json:"code_per_minute_account" env:"HEALTHCODE_RATE_CODE_PER_MINUTE_ACCOUNT"`
	VerifyPerMinuteUser int `json:"verify_per_minute_account" env:"HEALTHCODE_RATE_VERIFY_PER_MINUTE_ACCOUNT"`
	// TicketPerMinuteUser bounds the page tickets an account may create
	// (each is a database row).
	TicketPerMinuteUser int `json:"ticket_per_minute_account" env:"HEALTHCODE_RATE_TICKET_PER_MINUTE_ACCOUNT"`
	// CheckInPerMinuteUser bounds venue check-ins per account;
	// VenuePerMinuteUser a registrar's venue requests (registrations,
	// rotations, posters, reads and exports of the register).
	CheckInPerMinuteUser int `json:"checkin_per_minute_account" env:"HEALTHCODE_RATE_CHECKIN_PER_MINUTE_ACCOUNT"`
	VenuePerMinuteUser   int `json:"venue_per_minute_account" env:"HEALTHCODE_RATE_VENUE_PER_MINUTE_ACCOUNT"`
}

// DB configures the database.
type DB struct {
	Driver string `json:"driver" env:"HEALTHCODE_DB_DRIVER"`
	// DSN is the data source name; for sqlite an empty DSN means
	// <data dir>/healthcode.db.
	DSN          string `json:"dsn" env:"HEALTHCODE_DB_DSN" secret:"true"`
	MaxOpenConns int    `json:"max_open_conns" env:"HEALTHCODE_DB_MAX_OPEN_CONNS"`
	// AutoMigrate applies pending migrations when the server starts.
	AutoMigrate bool `json:"auto_migrate" env:"HEALTHCODE_DB_AUTO_MIGRATE"`
	// QueryTimeout is the deadline of every statement and transaction the
	// server runs (and, on MySQL, of each connection's reads and writes):
	// past it the request is answered 503 unavailable.
	QueryTimeout Duration `json:"query_timeout" env:"HEALTHCODE_DB_QUERY_TIMEOUT"`
}

// HTTP configures the HTTP server.
type HTTP struct {
	ReadTimeout     Duration `json:"read_timeout" env:"HEALTHCODE_HTTP_READ_TIMEOUT"`
	WriteTimeout    Duration `json:"write_timeout" env:"HEALTHCODE_HTTP_WRITE_TIMEOUT"`
	IdleTimeout     Duration `json:"idle_timeout" env:"HEALTHCODE_HTTP_IDLE_TIMEOUT"`
	ShutdownTimeout Duration `json:"shutdown_timeout" env:"HEALTHCODE_HTTP_SHUTDOWN_TIMEOUT"`
	// UploadTimeout replaces the read and write timeouts of an operator's
	// file upload (a list of up to the import limit), once its sender is
	// known to be an operator.
	UploadTimeout Duration `json:"upload_timeout" env:"HEALTHCODE_HTTP_UPLOAD_TIMEOUT"`
	// DrainDelay is how long, after SIGTERM, /readyz answers 503 while the
	// server still serves, so a balancer's health checks take the node out
	// before it stops accepting; 0 stops at once (no balancer in front).
	DrainDelay Duration `json:"drain_delay" env:"HEALTHCODE_HTTP_DRAIN_DELAY"`
	// MaxBodyBytes bounds every request body; larger bodies are answered 413.
	MaxBodyBytes int64 `json:"max_body_bytes" env:"HEALTHCODE_HTTP_MAX_BODY_BYTES"`
	// TrustedProxies are the addresses (or CIDR ranges) of proxies whose
	// X-Forwarded-For is believed; empty means the peer address is the client.
	TrustedProxies []string `json:"trusted_proxies" env:"HEALTHCODE_HTTP_TRUSTED_PROXIES"`
}

// Keys locates key material. Each file holds base64 of 32 random bytes. In
// development an empty location means a key generated under
// <data dir>/keys on first run; production requires every location.
type Keys struct {
	EncryptionKeyFile string `json:"encryption_key_file" env:"HEALTHCODE_ENCRYPTION_KEY_FILE"`
	HashKeyFile       string `json:"hash_key_file" env:"HEALTHCODE_HASH_KEY_FILE"`
	SessionKeyFile    string `json:"session_key_file" env:"HEALTHCODE_SESSION_KEY_FILE"`
	// SigningKeyDir holds the Ed25519 code-signing keys (one JSON file each).
	SigningKeyDir string `json:"signing_key_dir" env:"HEALTHCODE_SIGNING_KEY_DIR"`
}

// WeChat holds the WeChat mini-program credentials; an empty AppID disables
// the platform.
type WeChat struct {
	AppID     string `json:"app_id" env:"HEALTHCODE_WECHAT_APP_ID"`
	AppSecret string `json:"app_secret" env:"HEALTHCODE_WECHAT_APP_SECRET" secret:"true"`
}

// Alipay holds the Alipay mini-program credentials (public-key mode); an
// empty AppID disables the platform.
type Alipay struct {
	AppID string `json:"app_id" env:"HEALTHCODE_ALIPAY_APP_ID"`
	// PrivateKeyFile holds the app's RSA private key (PEM).
	PrivateKeyFile string `json:"private_key_file" env:"HEALTHCODE_ALIPAY_PRIVATE_KEY_FILE"`
	// PublicKeyFile holds Alipay's public key (PKIX PEM), not the app's own.
	PublicKeyFile string `json:"public_key_file" env:"HEALTHCODE_ALIPAY_PUBLIC_KEY_FILE"`
	// EncryptKey is the AES key for my.getPhoneNumber payloads.
	EncryptKey string `json:"encrypt_key" env:"HEALTHCODE_ALIPAY_ENCRYPT_KEY" secret:"true"`
	// ReturnURL is where Alipay face verification returns; empty means the
	// mini-program itself.
	ReturnURL string `json:"return_url" env:"HEALTHCODE_ALIPAY_RETURN_URL"`
}

// Default returns the configuration that runs on a fresh machine.
func Default() Config {
	return Config{
		Mode:      ModeDevelopment,
		Addr:      "127.0.0.1:8080",
		DataDir:   "./data",
		TimeZone:  "Asia/Shanghai",
		Region:    "310000",
		LogFormat: "text",
		LogLevel:  "info",
		DB: DB{
			Driver:       DriverSQLite,
			MaxOpenConns: 20,
			AutoMigrate:  true,
			QueryTimeout: Duration(3 * time.Second),
		},
		HTTP: HTTP{
			ReadTimeout:     Duration(10 * time.Second),
			WriteTimeout:    Duration(15 * time.Second),
			UploadTimeout:   Duration(10 * time.Minute),
			IdleTimeout:     Duration(120 * time.Second),
			ShutdownTimeout: Duration(20 * time.Second),
			MaxBodyBytes:    1 << 20,
		},
		Sandbox:         "auto",
		SessionTTL:      Duration(7 * 24 * time.Hour),
		PlatformTimeout: Duration(5 * time.Second),
		// Generous per address: a whole estate may share one carrier-grade NAT.
		RateLimit: RateLimit{LoginPerMinuteIP: 120, IdentityPerMinuteIP: 120, IdentityPerMinuteUser: 10,
			CodePerMinuteUser: 60, VerifyPerMinuteUser: 300, TicketPerMinuteUser: 30,
			CheckInPerMinuteUser: 30, VenuePerMinuteUser: 120},
		Admission:      Admission{MaxInFlight: 256, MaxQueue: 1024, MaxWait: Duration(50 * time.Millisecond)},
		GroupCommit:    GroupCommit{MaxBatch: 256, MaxWait: Duration(5 * time.Millisecond), Queue: 8192},
		CodeTTL:        Duration(60 * time.Second),
		ClockSkew:      Duration(5 * time.Second),
		ImportMaxBytes: 256 << 20,
		// Scans four weeks, page tickets a day after they expired, audit
		// rows 180 days.
		Retention: Retention{Scans: Duration(28 * 24 * time.Hour), Tickets: Duration(24 * time.Hour), CheckIns: Duration(28 * 24 * time.Hour),
			Samples: Duration(28 * 24 * time.Hour),
			Audit:   Duration(MinAuditRetention), Interval: Duration(time.Hour)},
	}
}

// Production reports whether the service runs in production mode.
func (c Config) Production() bool { return c.Mode == ModeProduction }

// SandboxEnabled reports whether the local sandbox platform is served.
func (c Config) SandboxEnabled() bool {
	switch c.Sandbox {
	case "true":
		return true
	case "false":
		return false
	default:
		return !c.Production()
	}
}

// Location returns the configured time zone. Validate has checked it loads.
func (c Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// SQLitePath is the database file used when the driver is sqlite and no DSN
// is configured.
func (c Config) SQLitePath() string { return filepath.Join(c.DataDir, "healthcode.db") }

// validateRetention checks the retention settings: development accepts
// scan and ticket retention (and the purge interval) as short as a second so
// the purge can be tried; production refuses less than an hour (a minute
// for the interval); audit rows are kept 180 days in every mode.
func (c Config) validateRetention(bad func(string, ...any)) {
	least, leastInterval, mode := time.Second, time.Second, "development"
	if c.Production() {
		least, leastInterval, mode = time.Hour, time.Minute, "production"
	}
	if c.Retention.Scans.D() < least {
		bad("HEALTHCODE_RETENTION_SCANS must be at least %v in %s mode, not %v", least, mode, c.Retention.Scans)
	}
	if c.Retention.CheckIns.D() < least {
		bad("HEALTHCODE_RETENTION_CHECKINS must be at least %v in %s mode, not %v", least, mode, c.Retention.CheckIns)
	}
	// A tube is purged counted from when it was opened, whatever its state:
	// in production it must outlive its filling and the lab (a results
	// file naming a purged tube is refused whole).
	leastSamples := least
	if c.Production() {
		leastSamples = MinSampleRetention
	}
	if c.Retention.Samples.D() < leastSamples {
		bad("HEALTHCODE_RETENTION_SAMPLES must be at least %v in %s mode, not %v", leastSamples, mode, c.Retention.Samples)
	}
	if c.Retention.Tickets.D() < least {
		bad("HEALTHCODE_RETENTION_TICKETS must be at least %v in %s mode, not %v", least, mode, c.Retention.Tickets)
	}
	if c.Retention.Audit.D() < MinAuditRetention {
		bad("HEALTHCODE_RETENTION_AUDIT must be at least %v (180 days) in every mode, not %v", MinAuditRetention, c.Retention.Audit)
	}
	if c.Retention.Interval.D() < leastInterval || c.Retention.Interval.D() > 24*time.Hour {
		bad("HEALTHCODE_RETENTION_INTERVAL must be between %v and 24h in %s mode, not %v", leastInterval, mode, c.Retention.Interval)
	}
}

// Validate reports every problem with the configuration at once, in words an
// operator can act on.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch c.Mode {
	case ModeDevelopment, ModeProduction:
	default:
		bad("HEALTHCODE_MODE must be %q or %q, not %q", ModeDevelopment, ModeProduction, c.Mode)
	}
	if c.Addr == "" {
		bad("HEALTHCODE_ADDR must not be empty")
	}
	if c.DataDir == "" {
		bad("HEALTHCODE_DATA_DIR must not be empty")
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		bad("HEALTHCODE_TIME_ZONE %q is not a known time zone", c.TimeZone)
	}
	if c.Region == "" {
		bad("HEALTHCODE_REGION must not be empty")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("HEALTHCODE_LOG_FORMAT must be text or json, not %q", c.LogFormat)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("HEALTHCODE_LOG_LEVEL must be debug, info, warn or error, not %q", c.LogLevel)
	}
	switch c.DB.Driver {
	case DriverSQLite:
	case DriverMySQL:
		if c.DB.DSN == "" {
			bad("HEALTHCODE_DB_DSN is required when HEALTHCODE_DB_DRIVER is mysql")
		}
	default:
		bad("HEALTHCODE_DB_DRIVER must be sqlite or mysql, not %q", c.DB.Driver)
	}
	if c.DB.MaxOpenConns < 1 {
		bad("HEALTHCODE_DB_MAX_OPEN_CONNS must be at least 1")
	}
	if q := c.DB.QueryTimeout.D(); q < 10*time.Millisecond || q > time.Minute || q >= c.HTTP.WriteTimeout.D() {
		bad("HEALTHCODE_DB_QUERY_TIMEOUT must be between 10ms and 1m, and shorter than HEALTHCODE_HTTP_WRITE_TIMEOUT so a 503 can still be written")
	}
	if c.Admission.MaxInFlight < 1 || c.Admission.MaxQueue < 0 || c.Admission.MaxWait < 0 || c.Admission.MaxDelay < 0 {
		bad("HEALTHCODE_ADMISSION_MAX_IN_FLIGHT must be at least 1, the queue and wait not negative")
	}
	if c.GroupCommit.MaxBatch < 1 || c.GroupCommit.MaxBatch > 3000 || c.GroupCommit.Queue < c.GroupCommit.MaxBatch || c.GroupCommit.MaxWait < 0 || c.GroupCommit.MaxWait.D() > time.Second || c.GroupCommit.Writers < 0 {
		bad("HEALTHCODE_GROUP_COMMIT_*: batch between 1 and 3000, queue at least the batch, a wait between 0 and 1s")
	}
	if c.RateLimit.LoginPerMinuteIP < 1 || c.RateLimit.IdentityPerMinuteIP < 1 || c.RateLimit.IdentityPerMinuteUser < 1 ||
		c.RateLimit.CodePerMinuteUser < 1 || c.RateLimit.VerifyPerMinuteUser < 1 || c.RateLimit.TicketPerMinuteUser < 1 ||
		c.RateLimit.CheckInPerMinuteUser < 1 || c.RateLimit.VenuePerMinuteUser < 1 {
		bad("HEALTHCODE_RATE_* limits must be at least 1 per minute")
	}
	if c.PprofAddr != "" {
		if err := checkListenAddr(c.PprofAddr); err != nil {
			bad("HEALTHCODE_PPROF_ADDR: %v", err)
		} else if !loopback(c.PprofAddr) && !c.PprofAllowRemote {
			bad("HEALTHCODE_PPROF_ADDR %q is not a loopback address: profiles expose the heap; use 127.0.0.1:PORT or set HEALTHCODE_PPROF_ALLOW_REMOTE=true", c.PprofAddr)
		}
	}
	if c.MetricsAddr != "" {
		if err := checkListenAddr(c.MetricsAddr); err != nil {
			bad("HEALTHCODE_METRICS_ADDR: %v", err)
		} else if sameListener(c.MetricsAddr, c.Addr) || sameListener(c.MetricsAddr, c.PprofAddr) {
			bad("HEALTHCODE_METRICS_ADDR %q must differ from HEALTHCODE_ADDR and HEALTHCODE_PPROF_ADDR", c.MetricsAddr)
		}
	}
	if c.CodeTTL > 0 && c.CodeTTL.D() > 10*time.Minute {
		bad("HEALTHCODE_CODE_TTL must be at most 10m: a longer-lived code is a screenshot waiting to be reused")
	}
	if c.ClockSkew < 0 || c.ClockSkew.D() > 30*time.Second {
		bad("HEALTHCODE_CLOCK_SKEW must be between 0 and 30s")
	}
	if c.ImportMaxBytes < c.HTTP.MaxBodyBytes {
		bad("HEALTHCODE_IMPORT_MAX_BYTES must be at least HEALTHCODE_HTTP_MAX_BODY_BYTES")
	}
	for _, k := range c.OperatorKeys {
		if len(k) < 24 {
			bad("every HEALTHCODE_OPERATOR_KEYS key must be at least 24 characters")
			break
		}
	}
	for _, pk := range c.PeerKeys {
		region, key, _ := strings.Cut(pk, "=")
		if !sixDigits(region) || len(key) < 24 {
			bad("every HEALTHCODE_PEER_KEYS entry must be <six-digit region code>=<key of at least 24 characters>")
			break
		}
	}
	if c.HTTP.MaxBodyBytes < 1024 {
		bad("HEALTHCODE_HTTP_MAX_BODY_BYTES must be at least 1024")
	}
	for name, d := range map[string]Duration{
		"HEALTHCODE_HTTP_READ_TIMEOUT": c.HTTP.ReadTimeout, "HEALTHCODE_HTTP_WRITE_TIMEOUT": c.HTTP.WriteTimeout,
		"HEALTHCODE_HTTP_IDLE_TIMEOUT": c.HTTP.IdleTimeout, "HEALTHCODE_HTTP_SHUTDOWN_TIMEOUT": c.HTTP.ShutdownTimeout,
		"HEALTHCODE_HTTP_UPLOAD_TIMEOUT": c.HTTP.UploadTimeout,
		"HEALTHCODE_SESSION_TTL":         c.SessionTTL, "HEALTHCODE_CODE_TTL": c.CodeTTL,
	} {
		if d <= 0 {
			bad("%s must be a positive duration", name)
		}
	}
	if c.HTTP.DrainDelay < 0 || c.HTTP.DrainDelay.D() > time.Minute {
		bad("HEALTHCODE_HTTP_DRAIN_DELAY must be between 0 and 1m, not %v", c.HTTP.DrainDelay)
	}
	c.validateRetention(bad)
	switch c.Sandbox {
	case "auto", "true", "false":
	default:
		bad("HEALTHCODE_SANDBOX must be auto, true or false, not %q", c.Sandbox)
	}
	if c.PlatformTimeout <= 0 || c.PlatformTimeout.D() > 30*time.Second || c.PlatformTimeout >= c.HTTP.WriteTimeout {
		bad("HEALTHCODE_PLATFORM_TIMEOUT must be positive, at most 30s and shorter than HEALTHCODE_HTTP_WRITE_TIMEOUT (so the answer can still be written)")
	}
	if c.WeChat.AppID != "" && c.WeChat.AppSecret == "" {
		bad("HEALTHCODE_WECHAT_APP_SECRET is required with HEALTHCODE_WECHAT_APP_ID")
	}
	if c.Alipay.AppID != "" && (c.Alipay.PrivateKeyFile == "" || c.Alipay.PublicKeyFile == "") {
		bad("HEALTHCODE_ALIPAY_PRIVATE_KEY_FILE and HEALTHCODE_ALIPAY_PUBLIC_KEY_FILE are required with HEALTHCODE_ALIPAY_APP_ID")
	}

	if c.Production() {
		if c.SandboxEnabled() {
			bad("production mode refuses the sandbox platform: set HEALTHCODE_SANDBOX=false")
		}
		if c.WeChat.AppID == "" && c.Alipay.AppID == "" {
			bad("production mode needs a mini-program platform: configure HEALTHCODE_WECHAT_APP_ID or HEALTHCODE_ALIPAY_APP_ID")
		}
		if c.Keys.EncryptionKeyFile == "" || c.Keys.HashKeyFile == "" || c.Keys.SessionKeyFile == "" || c.Keys.SigningKeyDir == "" {
			bad("production mode refuses generated development keys: set HEALTHCODE_ENCRYPTION_KEY_FILE, HEALTHCODE_HASH_KEY_FILE, HEALTHCODE_SESSION_KEY_FILE and HEALTHCODE_SIGNING_KEY_DIR")
		}
		if len(c.OperatorKeys) == 0 {
			bad("production mode needs HEALTHCODE_OPERATOR_KEYS")
		}
	}
	return errors.Join(errs...)
}

// checkListenAddr reports whether addr is a host:port a listener can use.
func checkListenAddr(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	return nil
}

// loopback reports whether the listen address addr accepts connections from
// this machine only. An empty host (":6061") listens on every interface; a
// name other than localhost may resolve to anything.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameListener reports whether two listen addresses name the same fixed
// address (port 0 picks a free port, so never clashes).
func sameListener(a, b string) bool {
	_, port, _ := net.SplitHostPort(a)
	return a == b && port != "0"
}

// sixDigits reports whether s is a six-digit administrative division code.
func sixDigits(s string) bool {
	if len(s) != 6 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
