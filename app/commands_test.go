package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"healthcode/models/fault"
)

// A list saved as GBK is refused by the command line as by the HTTP upload,
// naming the row, and nothing is imported.
func TestImportCommandRefusesTextThatIsNotUTF8(t *testing.T) {
	dir := t.TempDir()
	getenv := func(k string) string {
		if k == "HEALTHCODE_DATA_DIR" {
			return dir
		}
		return ""
	}
	file := filepath.Join(dir, "cdc.csv")
	// Row 2's reason is 密接 in GBK.
	csv := "resident_id,11010519491231002X,red,ok\nresident_id,11010519491231002X,red,\xc3\xdc\xbd\xd3\n"
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	err := run(context.Background(), []string{"import-status", "--source", "cdc", "--file", file}, getenv, &stdout, &stderr)
	if fault.CodeOf(err) != fault.CodeImportRejected {
		t.Fatalf("err = %v, want %s", err, fault.CodeImportRejected)
	}
	if !strings.Contains(stderr.String(), "row 2:") || !strings.Contains(stderr.String(), fault.CodeInvalidEncoding) {
		t.Errorf("stderr %q does not name row 2 as %s", stderr.String(), fault.CodeInvalidEncoding)
	}
	if strings.Contains(stdout.String(), "imported") {
		t.Errorf("stdout %q", stdout.String())
	}
	// The same file in UTF-8 imports.
	os.WriteFile(file, []byte(strings.Replace(csv, "\xc3\xdc\xbd\xd3", "密接", 1)), 0o600)
	if err := run(context.Background(), []string{"import-status", "--source", "cdc", "--file", file}, getenv, io.Discard, io.Discard); err != nil {
		t.Errorf("the UTF-8 file: %v", err)
	}
}

// Lab results go through the same job pipeline from the command line: a
// file naming an unknown tube is refused by row, and nothing is applied.
func TestImportResultsCommand(t *testing.T) {
	dir := t.TempDir()
	getenv := func(k string) string {
		if k == "HEALTHCODE_DATA_DIR" {
			return dir
		}
		return ""
	}
	file := filepath.Join(dir, "results.csv")
	if err := os.WriteFile(file, []byte("tube,result,tested_at\nTUBE-0001,negative,2026-11-23 14:00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	err := run(context.Background(), []string{"import-results", "--file", file}, getenv, &stdout, &stderr)
	if fault.CodeOf(err) != fault.CodeImportRejected || !strings.Contains(stderr.String(), "row 2:") || !strings.Contains(stderr.String(), fault.CodeTubeNotFound) {
		t.Errorf("err = %v, stderr %q", err, stderr.String())
	}
	if err := run(context.Background(), []string{"import-results"}, getenv, io.Discard, io.Discard); err == nil {
		t.Error("no file: no usage error")
	}
}

// TestImportDisabilityCommand: the register from a file, by the job
// pipeline; a bad row refuses it with the row's number.
func TestImportDisabilityCommand(t *testing.T) {
	dir := t.TempDir()
	getenv := func(k string) string {
		if k == "HEALTHCODE_DATA_DIR" {
			return dir
		}
		return ""
	}
	file := filepath.Join(dir, "register.csv")
	write := func(body string) {
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("doc_type,doc_number\nresident_id,11010519491231002X\nresident_id,123\n")
	var stdout, stderr strings.Builder
	err := run(context.Background(), []string{"import-disability", "--file", file}, getenv, &stdout, &stderr)
	if fault.CodeOf(err) != fault.CodeImportRejected || !strings.Contains(stderr.String(), "row 3:") {
		t.Errorf("err = %v, stderr %q", err, stderr.String())
	}
	write("doc_type,doc_number\nresident_id,11010519491231002X\n")
	stdout.Reset()
	if err := run(context.Background(), []string{"import-disability", "--file", file}, getenv, &stdout, io.Discard); err != nil || !strings.Contains(stdout.String(), "holds 1 documents") {
		t.Errorf("err = %v, stdout %q", err, stdout.String())
	}
	if err := run(context.Background(), []string{"import-disability"}, getenv, io.Discard, io.Discard); err == nil {
		t.Error("no file: no usage error")
	}
}
