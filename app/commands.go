package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"healthcode/config"
	"healthcode/models"
	"healthcode/models/codetoken"
	"healthcode/models/fault"
	"healthcode/models/store"
)

// importHouseholds replaces the household registers:
// `app import-households --file F` (household_id,doc_type,doc_number).
func importHouseholds(ctx context.Context, cfg config.Config, args []string, e env) error {
	file, err := fileFlag("import-households", args)
	if err != nil {
		return err
	}
	return importFile(ctx, cfg, file, e, func(d *deps, open func() (io.ReadCloser, error)) (string, error) {
		n, err := d.store.ImportHouseholdsCSV(ctx, open, "cli:import-households", "")
		return fmt.Sprintf("imported %d household register rows", n), err
	})
}

// importBirths replaces the birth records: `app import-births --file F`
// (birth_certificate,child_doc_type,child_doc_number,parent_doc_type,parent_doc_number).
func importBirths(ctx context.Context, cfg config.Config, args []string, e env) error {
	file, err := fileFlag("import-births", args)
	if err != nil {
		return err
	}
	return importFile(ctx, cfg, file, e, func(d *deps, open func() (io.ReadCloser, error)) (string, error) {
		n, err := d.store.ImportBirthsCSV(ctx, open, "cli:import-births", "")
		return fmt.Sprintf("imported %d birth records", n), err
	})
}

func fileFlag(command string, args []string) (string, error) {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	file := fs.String("file", "", "CSV file")
	if err := fs.Parse(args); err != nil || *file == "" {
		return "", usageError{"usage: app " + command + " --file F.csv"}
	}
	return *file, nil
}

// importFile opens file and the database and runs load; a refused file
// prints the rows at fault.
// importFile runs load over a register file read as a stream (opened once
// per pass it makes), printing its answer or the rows that refused it.
func importFile(ctx context.Context, cfg config.Config, file string, e env, load func(*deps, func() (io.ReadCloser, error)) (string, error)) error {
	open := func() (io.ReadCloser, error) { return os.Open(file) }
	f, err := open()
	if err != nil {
		return err
	}
	f.Close()
	d, err := openForCommand(ctx, cfg, commandQueryTimeout)
	if err != nil {
		return err
	}
	defer store.CloseDB(d.db)
	msg, err := load(d, open)
	if err != nil {
		printImportProblems(e.stderr, err)
		return err
	}
	fmt.Fprintln(e.stdout, msg)
	return nil
}

// printImportProblems lists the rows that made an import fail.
func printImportProblems(w io.Writer, err error) {
	var me *fault.Error
	if !errors.As(err, &me) {
		return
	}
	if details, ok := me.Details.(models.ImportProblems); ok {
		for _, p := range details.Problems {
			fmt.Fprintf(w, "  row %d: %s (%s)\n", p.Row, p.Message, p.Code)
		}
	}
}

// keys manages code-signing keys: `app keys rotate` adds a new active key;
// `app keys list` prints the published ones.
func keys(cfg config.Config, args []string, e env) error {
	if len(args) != 1 || (args[0] != "rotate" && args[0] != "list") {
		return usageError{"usage: app keys rotate|list"}
	}
	clock := models.SystemClock{}
	if args[0] == "rotate" {
		k, err := codetoken.WriteNewKey(cfg.SigningKeyDir(), clock.Now(), !cfg.Production())
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "new active signing key %s; older keys stay published until their codes expire\n", k.ID)
		return nil
	}
	list, err := loadSigningKeys(cfg, clock.Now())
	if err != nil {
		return err
	}
	for _, k := range list {
		state := "active"
		if !k.RetiredAt.IsZero() {
			state = "retired " + k.RetiredAt.Format("2006-01-02 15:04")
		}
		fmt.Fprintf(e.stdout, "%s  created %s  %s\n", k.ID, k.CreatedAt.Format("2006-01-02 15:04"), state)
	}
	return nil
}
