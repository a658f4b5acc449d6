package main

import (
	"context"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"healthcode/models/store"
)

// openDataDB opens the SQLite database a command or server keeps under dir.
func openDataDB(t *testing.T, dir string) *gorm.DB {
	t.Helper()
	db, err := store.OpenDB(context.Background(), store.DBOptions{Driver: "sqlite", DSN: filepath.Join(dir, "healthcode.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.CloseDB(db) })
	return db
}

// addScan records one scan checked at `at`.
func addScan(t *testing.T, db *gorm.DB, holder string, at time.Time) {
	t.Helper()
	err := db.Exec("INSERT INTO verifications (verifier_account_id, holder_handle, result, reason, colour, kind, place, code_id, checked_at) VALUES ('v', ?, 'valid', '', 'green', 'personal', 'gate', 'c', ?)",
		holder, at.UTC()).Error
	if err != nil {
		t.Fatal(err)
	}
}

// `app purge` removes what is past its retention, keeps the rest, and
// prints the count for each table. Ages are relative to the real clock,
// which the command uses.
func TestPurgeCommand(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"HEALTHCODE_DATA_DIR": dir}
	getenv := func(k string) string { return vars[k] }
	if err := run(context.Background(), []string{"migrate"}, getenv, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	db := openDataDB(t, dir)
	now := time.Now()
	addScan(t, db, "old", now.Add(-29*24*time.Hour))
	addScan(t, db, "older", now.Add(-40*24*time.Hour))
	addScan(t, db, "recent", now.Add(-time.Minute))
	db.Exec("INSERT INTO h5_tickets (id, account_id, purpose, relative_id, expires_at, created_at) VALUES ('t1', 'a', 'code', '', ?, ?)",
		now.Add(-48*time.Hour).UTC(), now.Add(-48*time.Hour-time.Minute).UTC())
	db.Exec("INSERT INTO audit_log (at, actor, action, subject, detail, request_id) VALUES (?, 'system', 'test.aged', '', '', '')",
		now.Add(-200*24*time.Hour).UTC())

	var out strings.Builder
	if err := run(context.Background(), []string{"purge"}, getenv, &out, io.Discard); err != nil {
		t.Fatalf("purge: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`(?m)^verifications +removed 2 \(scanned before \d{4}-\d\d-\d\dT`,
		`(?m)^h5_tickets +removed 1 \(expired before `,
		`(?m)^face_verifications +removed 0 `,
		`(?m)^session_revocations +removed 0 `,
		`(?m)^audit_log +removed 1 \(recorded before `,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("purge printed\n%s\nwant a line matching %s", out.String(), want)
		}
	}
	var holders []string
	db.Table("verifications").Pluck("holder_handle", &holders)
	if strings.Join(holders, ",") != "recent" {
		t.Errorf("scans left: %v, want the recent one", holders)
	}
	var runs int64
	db.Table("audit_log").Where("action = 'retention.purge' AND actor = 'system:purge'").Count(&runs)
	if runs != 1 {
		t.Errorf("%d audit rows for the run, want 1", runs)
	}

	// Development accepts a retention of a second, so the purge can be
	// tried on what was just recorded.
	vars["HEALTHCODE_RETENTION_SCANS"] = "1s"
	addScan(t, db, "just now", time.Now().Add(-5*time.Second))
	out.Reset()
	if err := run(context.Background(), []string{"purge"}, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^verifications +removed 2 `).MatchString(out.String()) {
		t.Errorf("with 1s retention purge printed\n%s\nwant both scans removed", out.String())
	}
	// Production does not.
	vars["HEALTHCODE_MODE"] = "production"
	err := run(context.Background(), []string{"purge"}, getenv, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "HEALTHCODE_RETENTION_SCANS must be at least 1h") {
		t.Errorf("production with 1s retention: %v", err)
	}
}

// serve purges on its own every HEALTHCODE_RETENTION_INTERVAL and logs one
// line with the counts.
func TestServePurgesInTheBackground(t *testing.T) {
	s := startServer(t, buildBinary(t), "HEALTHCODE_RETENTION_INTERVAL=1s", "HEALTHCODE_RETENTION_SCANS=1s")
	db := openDataDB(t, filepath.Join(s.cmd.Dir, "data"))
	addScan(t, db, "old", time.Now().Add(-time.Hour))
	line := regexp.MustCompile(`msg="purged expired data" removed=1 verifications=1 `)
	for deadline := time.Now().Add(15 * time.Second); !line.MatchString(s.logs.String()); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no purge line removing the scan in the logs:\n%s", s.logs)
		}
	}
	var n int64
	db.Table("verifications").Count(&n)
	if n != 0 {
		t.Errorf("%d scans left after the purge", n)
	}
	s.checkEndpointsAndStop(t)
}
