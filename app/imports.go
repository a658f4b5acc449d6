package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"healthcode/config"
	"healthcode/models"
	"healthcode/models/fault"
	"healthcode/models/store"
)

// removeSpooledUploads deletes uploads a previous run left behind (their
// jobs are failed by recovery); they hold document numbers.
func removeSpooledUploads(cfg config.Config, log *slog.Logger) {
	files, _ := filepath.Glob(filepath.Join(cfg.DataDir, "imports", "upload-*.csv"))
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			log.Warn("remove a leftover upload", "err", err)
		}
	}
}

// importStatus replaces one source's status list with a CSV file, by the
// same job pipeline as the HTTP upload, run here in the foreground:
// `app import-status --source cdc --file lists.csv`, or `--clear` to empty
// the source. Progress goes to standard error (a bar on a terminal).
func importStatus(ctx context.Context, cfg config.Config, args []string, e env) error {
	fs := flag.NewFlagSet("import-status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	source := fs.String("source", "", "list source: cdc, community, nucleic_acid or operator")
	file := fs.String("file", "", "CSV file: doc_type,doc_number,colour,reason")
	clear := fs.Bool("clear", false, "empty the source's list")
	if err := fs.Parse(args); err != nil || *source == "" || (*file == "") == !*clear {
		return usageError{"usage: app import-status --source cdc|community|nucleic_acid|operator (--file lists.csv | --clear)"}
	}
	open := func() (io.ReadCloser, error) {
		if *clear {
			return io.NopCloser(strings.NewReader("")), nil
		}
		return os.Open(*file)
	}
	job, err := runImportJob(ctx, cfg, e, open, func(s *store.Store) (*models.ImportJob, error) {
		return s.NewStatusImport(ctx, *source, *clear, "cli:import-status", "")
	})
	if err != nil {
		return err
	}
	verb := fmt.Sprintf("imported %d rows into", job.RowsApplied)
	if *clear {
		verb = "cleared"
	}
	fmt.Fprintf(e.stdout, "%s the %s list (import %s); running servers pick it up within seconds\n", verb, job.Source, job.ID)
	return nil
}

// runImportJob runs an import job in the foreground by the pipeline the
// HTTP uploads take (Store.RunImport): the file open returns is checked to
// open, newJob records the job, its progress goes to standard error (a bar
// on a terminal), and a rejected file prints its row problems and fails
// with CodeImportRejected.
func runImportJob(ctx context.Context, cfg config.Config, e env, open func() (io.ReadCloser, error),
	newJob func(*store.Store) (*models.ImportJob, error)) (*models.ImportJob, error) {
	f, err := open()
	if err != nil {
		return nil, err
	}
	f.Close()
	d, err := openForCommand(ctx, cfg, commandQueryTimeout)
	if err != nil {
		return nil, err
	}
	defer store.CloseDB(d.db)
	job, err := newJob(d.store)
	if err != nil {
		return nil, err
	}
	bar := newProgress(e.stderr)
	if err := d.store.RunImport(ctx, job, open, bar.show); err != nil {
		return nil, err
	}
	bar.end()
	if job.State == models.ImportRejected {
		for _, p := range job.RowProblems() {
			fmt.Fprintf(e.stderr, "row %d: %s (%s)\n", p.Row, p.Message, p.Code)
		}
		return nil, fault.Errorf(fault.KindInvalid, fault.CodeImportRejected, "import %s rejected: %s", job.ID, job.Message)
	}
	return job, nil
}

// progress shows an import's progress: one rewritten line on a terminal,
// a line per state otherwise.
type progress struct {
	w        io.Writer
	terminal bool
	state    string
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progress) show(j models.ImportJob) {
	if p.terminal {
		fmt.Fprintf(p.w, "\r%-10s read %d rows, applied %d", j.State, j.RowsRead, j.RowsApplied)
		return
	}
	if j.State != p.state {
		p.state = j.State
		fmt.Fprintf(p.w, "%s (read %d rows, applied %d)\n", j.State, j.RowsRead, j.RowsApplied)
	}
}

func (p *progress) end() {
	if p.terminal {
		fmt.Fprintln(p.w)
	}
}
