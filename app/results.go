package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"healthcode/config"
	"healthcode/models"
)

// importResults applies a lab's nucleic-acid results, by the same job
// pipeline as the HTTP upload, run here in the foreground:
// `app import-results --file results.csv` (tube,result,tested_at).
// Progress goes to standard error.
func importResults(ctx context.Context, cfg config.Config, args []string, e env) error {
	fs := flag.NewFlagSet("import-results", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	file := fs.String("file", "", "CSV file: tube,result,tested_at")
	if err := fs.Parse(args); err != nil || *file == "" {
		return usageError{"usage: app import-results --file results.csv"}
	}
	open := func() (io.ReadCloser, error) { return os.Open(*file) }
	f, err := open()
	if err != nil {
		return err
	}
	f.Close()
	d, err := openForCommand(ctx, cfg, commandQueryTimeout)
	if err != nil {
		return err
	}
	defer models.CloseDB(d.db)
	job, err := d.store.NewResultsImport(ctx, "cli:import-results", "")
	if err != nil {
		return err
	}
	bar := newProgress(e.stderr)
	if err := d.store.RunResultsImport(ctx, job, open, bar.show); err != nil {
		return err
	}
	bar.end()
	if job.State == models.ImportRejected {
		for _, p := range job.RowProblems() {
			fmt.Fprintf(e.stderr, "row %d: %s (%s)\n", p.Row, p.Message, p.Code)
		}
		return models.Errorf(models.KindInvalid, models.CodeImportRejected, "import %s rejected: %s", job.ID, job.Message)
	}
	fmt.Fprintf(e.stdout, "applied %d tube results (import %s); running servers pick them up within seconds\n", job.RowsApplied, job.ID)
	return nil
}
