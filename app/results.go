package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"healthcode/config"
	"healthcode/models"
	"healthcode/models/store"
)

// importResults applies a lab's nucleic-acid results, by the same job
// pipeline as the HTTP upload, run here in the foreground:
// `app import-results --file results.csv` (tube,result,tested_at).
// Progress goes to standard error.
func importResults(ctx context.Context, cfg config.Config, args []string, e env) error {
	return importJobCommand(ctx, cfg, args, e, "import-results", "tube,result,tested_at",
		func(s *store.Store) (*models.ImportJob, error) {
			return s.NewResultsImport(ctx, "cli:import-results", "")
		},
		"applied %d tube results (import %s); running servers pick them up within seconds\n")
}

// importDisability replaces the disability register, by the same job
// pipeline as POST /api/v1/admin/disability-register, in the foreground:
// `app import-disability --file register.csv` (doc_type,doc_number).
func importDisability(ctx context.Context, cfg config.Config, args []string, e env) error {
	return importJobCommand(ctx, cfg, args, e, "import-disability", "doc_type,doc_number",
		func(s *store.Store) (*models.ImportJob, error) {
			return s.NewDisabilityImport(ctx, "cli:import-disability", "")
		},
		"the disability register now holds %d documents (import %s)\n")
}

// importJobCommand runs the import job newJob records over the file named
// by --file (columns as its usage says) through runImportJob; done reports
// the rows applied and the job's id.
func importJobCommand(ctx context.Context, cfg config.Config, args []string, e env, name, columns string,
	newJob func(*store.Store) (*models.ImportJob, error), done string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	file := fs.String("file", "", "CSV file: "+columns)
	if err := fs.Parse(args); err != nil || *file == "" {
		return usageError{"usage: app " + name + " --file file.csv (" + columns + ")"}
	}
	job, err := runImportJob(ctx, cfg, e, func() (io.ReadCloser, error) { return os.Open(*file) }, newJob)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, done, job.RowsApplied, job.ID)
	return nil
}
