package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"healthcode/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// usageError is a mistake on the command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `usage: app [-config file.json] [command]

commands:
  serve     run the HTTP service (default)
  migrate   apply pending database migrations and print what was applied
  import-status --source S --file F
            replace the status list of source S (cdc, community, nucleic_acid,
            operator) with CSV file F (doc_type,doc_number,colour,reason)
  import-results --file F
            apply a lab's nucleic-acid results (tube,result,tested_at)
  import-disability --file F
            replace the disability register (doc_type,doc_number)
  import-households --file F
            replace the household registers (household_id,doc_type,doc_number)
  import-births --file F
            replace the birth records (birth_certificate,child_doc_type,
            child_doc_number,parent_doc_type,parent_doc_number)
  keys rotate|list
            add a new active code-signing key / list the published keys
  verify QR judge a code as a verifier's scan would and print the verdict
            as JSON (audited; no scan is recorded)
  purge     remove the records past their retention once and print what
            was removed from each table (serve purges on its own too)
  version   print the version
  config    print the effective configuration with secrets masked

Configuration comes from the optional JSON file (or HEALTHCODE_CONFIG) and
HEALTHCODE_* environment variables; see README.md.`

// env is what a command needs from its surroundings, so tests can run
// commands in process.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// run parses the command line and runs one command until it finishes or ctx
// is cancelled (SIGTERM or Ctrl-C for serve).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configPath := fs.String("config", getenv("HEALTHCODE_CONFIG"), "configuration file (JSON)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error() + "\n" + usage}
	}
	e := env{getenv: getenv, stdout: stdout, stderr: stderr}
	command, rest := "serve", fs.Args()
	if len(rest) > 0 {
		command, rest = rest[0], rest[1:]
	}

	if command == "version" {
		fmt.Fprintf(stdout, "healthcode %s (%s)\n", version, runtime.Version())
		return nil
	}
	if command == "help" || command == "-h" {
		fmt.Fprintln(stdout, usage)
		return nil
	}
	cfg, err := config.Load(*configPath, getenv)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration is not valid:\n%w", err)
	}
	switch command {
	case "serve":
		// Request logs are buffered and flushed every 100 ms; the last
		// records are flushed when serve returns.
		w := newLogWriter(stderr, 100*time.Millisecond)
		defer w.Close()
		return serve(ctx, cfg, newLogger(cfg, w), e)
	case "migrate":
		return migrate(ctx, cfg, e)
	case "import-status":
		return importStatus(ctx, cfg, rest, e)
	case "import-results":
		return importResults(ctx, cfg, rest, e)
	case "import-disability":
		return importDisability(ctx, cfg, rest, e)
	case "import-households":
		return importHouseholds(ctx, cfg, rest, e)
	case "import-births":
		return importBirths(ctx, cfg, rest, e)
	case "keys":
		return keys(cfg, rest, e)
	case "purge":
		return purge(ctx, cfg, e)
	case "verify":
		return verifyCode(ctx, cfg, rest, e)
	case "config":
		fmt.Fprintln(stdout, cfg.String())
		return nil
	default:
		return usageError{fmt.Sprintf("unknown command %q\n%s", command, usage)}
	}
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel)))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// ensureDataDir creates the data directory, readable by its owner only.
func ensureDataDir(cfg config.Config) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	return nil
}
