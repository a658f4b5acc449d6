package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

// failingReader yields its text, then an error, as a file on a disk that
// went away would.
type failingReader struct{ r io.Reader }

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, errors.New("disk gone")
	}
	return n, err
}

func (failingReader) Close() error { return nil }

// listOf makes a status list of n registered-looking documents.
func listOf(n int, colour string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "resident_id,%s,%s,r%d\n", withCheck(fmt.Sprintf("11010519800101%03d", i)), colour, i%3)
	}
	return b.String()
}

// An import stopped before its switch fails and changes nothing; one
// stopped after is finished by the next node that looks. Both wait until
// the runner has been silent for the stale period.
func TestInterruptedImportsRecover(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		clock := &setClock{now: time.Now()}
		s := store.NewStore(db, storetest.Vault(t), clock, shanghai)
		var people []*models.Person
		for i := range 30 {
			p, err := s.EnsurePerson(ctx, "张三", mustParse(t, "resident_id", withCheck(fmt.Sprintf("11010519800101%03d", i))))
			if err != nil {
				t.Fatal(err)
			}
			people = append(people, p)
		}
		if err := importCSV(t, s, models.SourceCDC, listOf(30, "yellow")); err != nil {
			t.Fatal(err)
		}
		book := models.NewStatusBook()
		s.RefreshStatus(ctx, book)

		// Stopped while writing the new list, after its first batch.
		job, _ := s.NewStatusImport(ctx, models.SourceCDC, false, "operator:test", "")
		stageCtx, stopStaging := context.WithCancel(ctx)
		open := func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(listOf(30, "red"))), nil }
		err := s.RunStatusImport(stageCtx, job, open, func(j models.ImportJob) {
			if j.State == models.ImportApplying && j.RowsApplied > 0 && !j.Switched {
				stopStaging()
			}
		})
		if err == nil {
			t.Fatal("an import stopped while staging finished")
		}
		var half int64
		db.Model(&models.StatusEntry{}).Where("import_id = ?", job.ID).Count(&half)
		if half == 0 {
			t.Fatal("the stopped import staged nothing: the test stops it too early")
		}
		if n, _ := s.RecoverImports(ctx, 2*time.Minute); n != 0 {
			t.Errorf("a job with a fresh heartbeat was taken up")
		}
		clock.Set(clock.Now().Add(3 * time.Minute))
		if n, err := s.RecoverImports(ctx, 2*time.Minute); n != 1 || err != nil {
			t.Fatalf("recover = %d, %v", n, err)
		}
		failed, _ := s.ImportJobByID(ctx, job.ID)
		var staged int64
		db.Model(&models.StatusEntry{}).Where("import_id = ?", job.ID).Count(&staged)
		if failed.State != models.ImportFailed || staged != 0 {
			t.Errorf("the interrupted job: %s with %d rows left", failed.State, staged)
		}
		s.RefreshStatus(ctx, book)
		if got := book.Of(people[0].No); got.Colour != models.Yellow {
			t.Errorf("after a failed import: %+v, want the list in force", got)
		}

		// Stopped after the switch, halfway through the people.
		job, _ = s.NewStatusImport(ctx, models.SourceCDC, false, "operator:test", "")
		stopCtx, stop := context.WithCancel(ctx)
		err = s.RunStatusImport(stopCtx, job, open, func(j models.ImportJob) {
			if j.Switched {
				stop()
			}
		})
		if err == nil {
			t.Fatal("a cancelled import finished")
		}
		clock.Set(clock.Now().Add(3 * time.Minute))
		if n, err := s.RecoverImports(ctx, 2*time.Minute); n != 1 || err != nil {
			t.Fatalf("recover = %d, %v", n, err)
		}
		done, _ := s.ImportJobByID(ctx, job.ID)
		if done.State != models.ImportDone {
			t.Errorf("the switched job ended %s", done.State)
		}
		s.RefreshStatus(ctx, book)
		for _, p := range people {
			if got := book.Of(p.No); got.Colour != models.Red {
				t.Fatalf("person %d after the recovered import: %+v", p.No, got)
			}
		}
		var old int64
		db.Model(&models.StatusEntry{}).Where("import_id <> ?", job.ID).Count(&old)
		if old != 0 {
			t.Errorf("%d rows of replaced lists left", old)
		}
	})
}

// A run that stalls past the stale period (a GC pause, a lock wait) loses
// its job to recovery, which fails it; the stalled run must then stop at its
// next write, leaving the list in force as it was, not switch what is left
// of its rows into force.
func TestAStalledRunStopsWhenItsJobWasTakenOver(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		clock := &setClock{now: time.Now()}
		s := store.NewStore(db, storetest.Vault(t), clock, shanghai)
		first, err := s.EnsurePerson(ctx, "张三", mustParse(t, "resident_id", withCheck(fmt.Sprintf("11010519800101%03d", 0))))
		if err != nil {
			t.Fatal(err)
		}
		if err := importCSV(t, s, models.SourceCDC, listOf(900, "yellow")); err != nil {
			t.Fatal(err)
		}
		list := listOf(900, "red") // two staging batches on SQLite (500 rows each)
		job, _ := s.NewStatusImport(ctx, models.SourceCDC, false, "operator:test", "")
		open := func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(list)), nil }
		stalled := false
		err = s.RunStatusImport(ctx, job, open, func(j models.ImportJob) {
			if j.State == models.ImportApplying && j.RowsApplied > 0 && !stalled {
				stalled = true
				clock.Set(clock.Now().Add(3 * time.Minute)) // the runner stalls
				if n, err := s.RecoverImports(ctx, 2*time.Minute); n != 1 || err != nil {
					t.Errorf("another node's recovery: %d, %v", n, err)
				}
			}
		})
		if err == nil {
			t.Fatal("the stalled run finished a job it no longer owned")
		}
		got, _ := s.ImportJobByID(ctx, job.ID)
		var staged int64
		db.Model(&models.StatusEntry{}).Where("import_id = ?", job.ID).Count(&staged)
		book := models.NewStatusBook()
		s.RefreshStatus(ctx, book)
		if got.State != models.ImportFailed || staged != 0 || book.Of(first.No).Colour != models.Yellow {
			t.Errorf("job %s with %d rows staged, first person %s; want failed, none, the yellow list in force",
				got.State, staged, book.Of(first.No).Colour)
		}
		// One unfinished job per source: a second upload waits its turn.
		busy, _ := s.NewStatusImport(ctx, models.SourceCDC, false, "operator:test", "")
		if _, err := s.NewStatusImport(ctx, models.SourceCDC, false, "operator:test", ""); fault.CodeOf(err) != "import_in_progress" {
			t.Errorf("a second import of a source under way: %v", err)
		}
		if _, err := s.NewStatusImport(ctx, models.SourceCommunity, false, "operator:test", ""); err != nil {
			t.Errorf("another source's import: %v", err)
		}
		_ = busy
	})
}

// TestDisabilityImportInterrupted: a register import that stops while it
// writes leaves the register in force as it was; recovery fails the job and
// removes what it wrote, and the next import replaces the register.
func TestDisabilityImportInterrupted(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		clock := &setClock{now: purgeNow}
		s := store.NewStore(db, storetest.Vault(t), clock, shanghai)
		var file strings.Builder
		for i := range 5000 {
			n := fmt.Sprintf("31011519800101%03d", i%1000)
			fmt.Fprintf(&file, "resident_id,%s%c\n", n, document.CheckDigit(n))
		}
		run := func(open func() (io.ReadCloser, error)) (*models.ImportJob, error) {
			job, err := s.NewDisabilityImport(ctx, "operator:test", "")
			if err != nil {
				t.Fatal(err)
			}
			return job, s.RunImport(ctx, job, open, nil)
		}
		whole := func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(file.String())), nil }
		first, err := run(whole)
		if err != nil || first.State != models.ImportDone || first.RowsApplied != 5000 {
			t.Fatalf("first register: %+v, %v", first, err)
		}
		opened := 0
		broken, err := run(func() (io.ReadCloser, error) {
			opened++
			if opened == 1 {
				return whole()
			}
			// Three quarters through, past the first batch on either database.
			return failingReader{r: strings.NewReader(file.String()[:len(file.String())*3/4])}, nil
		})
		if err == nil {
			t.Fatalf("a run whose file broke off ended %+v", broken)
		}
		count := func(gen string) (n int64) {
			db.Table("disability_register").Where("generation = ?", gen).Count(&n)
			return n
		}
		if count(broken.ID) == 0 || count(first.ID) != 5000 {
			t.Fatalf("after the break: %d rows of the broken run, %d of the register", count(broken.ID), count(first.ID))
		}
		if _, err := s.NewDisabilityImport(ctx, "operator:test", ""); fault.CodeOf(err) != "import_in_progress" {
			t.Errorf("a second import while one runs: %v", err)
		}
		clock.Set(purgeNow.Add(3 * time.Minute))
		if n, err := s.RecoverImports(ctx, 2*time.Minute); n != 1 || err != nil {
			t.Fatalf("recover = %d, %v", n, err)
		}
		got, _ := s.ImportJobByID(ctx, broken.ID)
		if got.State != models.ImportFailed || count(broken.ID) != 0 || count(first.ID) != 5000 {
			t.Errorf("recovered: %s, %d rows of it, %d of the register", got.State, count(broken.ID), count(first.ID))
		}
		third, err := run(whole)
		if err != nil || third.State != models.ImportDone || count(first.ID) != 0 || count(third.ID) != 5000 {
			t.Errorf("next register: %+v, %v; %d old rows", third, err, count(first.ID))
		}
	})
}

// A staging batch the database refused for now (busy) is tried again, and
// one whose commit answer was lost is not written twice: the list holds
// each of its rows once, and the job counts them once. A walk of the list
// refused for now is tried again too.
func TestImportStagingRetriesWithoutDuplicates(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		refused := 0
		busy := func(tx *gorm.DB) {
			if tx.Statement.Table == "status_entries" || strings.Contains(tx.Statement.SQL.String(), "`status_entries`") {
				if refused++; refused == 1 {
					tx.AddError(fault.ErrBusy)
				}
			}
		}
		if err := db.Callback().Create().Before("gorm:create").Register("test:busy", busy); err != nil {
			t.Fatal(err)
		}
		if err := db.Callback().Raw().Before("gorm:raw").Register("test:busy", busy); err != nil {
			t.Fatal(err)
		}
		// The sync's first walk of the list too.
		walks := 0
		err := db.Callback().Row().Before("gorm:row").Register("test:busy", func(tx *gorm.DB) {
			if tx.Statement.TableExpr != nil && strings.Contains(tx.Statement.TableExpr.SQL, "idx_status_entries_import_doc") {
				if walks++; walks == 1 {
					tx.AddError(fault.ErrBusy)
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		lost := 0
		store.AfterStaging(s, func() error {
			if lost++; lost == 1 {
				return fault.ErrBusy // committed, but the answer did not come back
			}
			return nil
		})
		job, err := s.NewStatusImport(ctx, models.SourceCDC, false, "operator:test", "")
		if err != nil {
			t.Fatal(err)
		}
		const rows = 450
		open := func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(listOf(rows, "yellow"))), nil }
		if err := s.RunStatusImport(ctx, job, open, nil); err != nil || job.State != models.ImportDone {
			t.Fatalf("import: %v, state %s", err, job.State)
		}
		if refused < 2 || lost < 1 || walks < 2 {
			t.Fatalf("the test's faults did not happen: %d staging statements, %d commits, %d walks", refused, lost, walks)
		}
		var staged int64
		db.Model(&models.StatusEntry{}).Where("import_id = ?", job.ID).Count(&staged)
		got, _ := s.ImportJobByID(ctx, job.ID)
		if staged != rows || job.RowsApplied != rows || got.RowsApplied != rows {
			t.Errorf("%d rows staged, job counts %d (stored %d), want %d each", staged, job.RowsApplied, got.RowsApplied, rows)
		}
	})
}

// A run that stalls in the middle of its sync (after the switch) and loses
// its job to recovery, which finishes it, may wake up after the next list
// of its source was switched in. Its next batch must not put its own list,
// no longer in force, back onto people: it is synced from the lists in
// force or not at all.
func TestAStalledSyncDoesNotApplyAListReplacedMeanwhile(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		clock := &setClock{now: time.Now()}
		s := store.NewStore(db, storetest.Vault(t), clock, shanghai)
		n := 250 // past one batch of the sync (200 on SQLite, 2,000 on MySQL)
		if db.Dialector.Name() == "mysql" {
			n = 2050
		}
		var people []*models.Person
		for i := range n {
			p, err := s.EnsurePerson(ctx, "张三", mustParse(t, "resident_id", withCheck(fmt.Sprintf("1101051980010%d%03d", 1+i/1000, i%1000))))
			if err != nil {
				t.Fatal(err)
			}
			people = append(people, p)
		}
		list := func(n int, colour string) string {
			var b strings.Builder
			for i := range n {
				fmt.Fprintf(&b, "resident_id,%s,%s,r\n", withCheck(fmt.Sprintf("1101051980010%d%03d", 1+i/1000, i%1000)), colour)
			}
			return b.String()
		}
		openList := func(csv string) func() (io.ReadCloser, error) {
			return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(csv)), nil }
		}
		job, _ := s.NewStatusImport(ctx, models.SourceCDC, false, "operator:test", "")
		stalled := false
		err := s.RunStatusImport(ctx, job, openList(list(n, "red")), func(j models.ImportJob) {
			if !j.Switched || j.Phase != 1 || j.CursorDoc == nil || stalled {
				return
			}
			// The runner stalls after its first batch of the new list's
			// people; another node finishes the job...
			stalled = true
			clock.Set(clock.Now().Add(3 * time.Minute))
			if got, err := s.RecoverImports(ctx, 2*time.Minute); got != 1 || err != nil {
				t.Errorf("recovery: %d, %v", got, err)
			}
			// ...and the next list of the source is switched in and its
			// sync passes everyone on the red list, before it stops (its
			// node went away) with the red list's rows not yet removed.
			next, _ := s.NewStatusImport(ctx, models.SourceCDC, false, "operator:test", "")
			stopCtx, stop := context.WithCancel(ctx)
			defer stop()
			s.RunStatusImport(stopCtx, next, openList(list(1, "yellow")), func(j models.ImportJob) {
				if j.Switched && j.Phase == 1 {
					stop()
				}
			})
		})
		if !stalled {
			t.Fatal("the run never reached its second batch")
		}
		if err == nil {
			t.Error("the stalled run finished a job it no longer owned")
		}
		clock.Set(clock.Now().Add(3 * time.Minute))
		if got, err := s.RecoverImports(ctx, 2*time.Minute); got != 1 || err != nil {
			t.Fatalf("recovery of the yellow list: %d, %v", got, err)
		}
		book := models.NewStatusBook()
		if err := s.RefreshStatus(ctx, book); err != nil {
			t.Fatal(err)
		}
		wrong := 0
		for i, p := range people {
			want := models.Green
			if i == 0 {
				want = models.Yellow
			}
			if got := book.Of(p.No).Colour; got != want {
				if wrong == 0 {
					t.Errorf("person %d: %s, want %s (the yellow list of one is in force)", i, got, want)
				}
				wrong++
			}
		}
		if wrong > 0 {
			t.Errorf("%d of %d people have a wrong colour", wrong, n)
		}
	})
}

// A job staged before lists were folded by document (one row per row of the
// file, a document listed twice on two rows) and switched may be finished
// after an upgrade by a node running this code: the walk of its list then
// meets a document's rows one after the other, and the person must get the
// worse of them (what the list says), not the one walked last.
func TestAResumedJobStagedRowByRowGivesTheWorseRow(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		clock := &setClock{now: time.Now()}
		vault := storetest.Vault(t)
		s := store.NewStore(db, vault, clock, shanghai)
		doc := mustParse(t, "resident_id", withCheck("11010519800101001"))
		p, err := s.EnsurePerson(ctx, "张三", doc)
		if err != nil {
			t.Fatal(err)
		}
		// The file listed the person red, then yellow; the old staging wrote
		// both rows in file order. The switch was done, the sync not.
		old := clock.Now().Add(-10 * time.Minute).UTC()
		job := models.ImportJob{ID: models.NewID(), Source: models.SourceCDC, State: models.ImportApplying, RowsRead: 2, RowsApplied: 2,
			Switched: true, Phase: 1, Actor: "operator:test", Runner: models.NewID(), CreatedAt: old, UpdatedAt: old}
		rows := []models.StatusEntry{
			{Source: models.SourceCDC, DocHash: vault.DocumentHash(doc), Colour: models.Red, Reason: "确诊", ImportID: job.ID},
			{Source: models.SourceCDC, DocHash: vault.DocumentHash(doc), Colour: models.Yellow, Reason: "密接", ImportID: job.ID},
		}
		if err := db.Create(&job).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Create(&rows).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Create(&models.StatusSource{Source: models.SourceCDC, ImportID: job.ID, UpdatedAt: old}).Error; err != nil {
			t.Fatal(err)
		}
		if n, err := s.RecoverImports(ctx, 2*time.Minute); n != 1 || err != nil {
			t.Fatalf("recover = %d, %v", n, err)
		}
		book := models.NewStatusBook()
		if err := s.RefreshStatus(ctx, book); err != nil {
			t.Fatal(err)
		}
		if got := book.Of(p.No); got.Colour != models.Red || got.Reason != "确诊" {
			t.Errorf("the person listed red and yellow: %s %q, want red 确诊", got.Colour, got.Reason)
		}
	})
}
