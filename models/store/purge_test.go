package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

// setClock is a clock tests move by hand.
type setClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *setClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *setClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// purgeNow is the fixed "now" of the purge tests; every row's age is
// relative to it.
var purgeNow = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func defaultPolicy() store.RetentionPolicy {
	return store.RetentionPolicy{Scans: 28 * day, Tickets: day, CheckIns: 28 * day, Samples: 28 * day, Audit: 180 * day, SessionTTL: 7 * day}
}

// addScans records one scan per age, oldest first as the group commit
// would, and returns their ids in that order.
func addScans(t *testing.T, db *gorm.DB, s *store.Store, holder string, ages ...time.Duration) []uint64 {
	t.Helper()
	var vs []*models.Verification
	for _, age := range ages {
		vs = append(vs, &models.Verification{VerifierAccountID: "v", HolderHandle: holder, Result: models.ResultValid,
			Colour: models.Green, Kind: "personal", Place: "gate", CodeID: "c", CheckedAt: purgeNow.Add(-age)})
	}
	if err := s.RecordVerifications(context.Background(), vs); err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	db.Table("verifications").Where("holder_handle = ?", holder).Order("id").Pluck("id", &ids)
	return ids
}

func countRows(t *testing.T, db *gorm.DB, table string) int64 {
	t.Helper()
	var n int64
	if err := db.Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func removedFrom(r store.PurgeReport) map[string]int64 {
	m := map[string]int64{}
	for _, t := range r.Tables {
		m[t.Table] = t.Removed
	}
	return m
}

// Each table loses exactly the rows past its retention, counted from
// the injected clock; the run is audited with its counts.
func TestPurgeRemovesWhatOutlivedItsRetention(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		clock := &setClock{now: purgeNow}
		s := store.NewStore(db, storetest.Vault(t), clock, shanghai)

		// Scans: 28 days by default.
		scans := addScans(t, db, s, "h1", 40*day, 28*day+time.Minute, 28*day-time.Minute, time.Hour)

		// Page tickets: a day after they expired (they live 60 s). Only a
		// redeemed ticket is a row; issuing one writes nothing.
		ticket := func(createdAgo time.Duration) {
			clock.Set(purgeNow.Add(-createdAgo))
			if _, err := s.RedeemH5Ticket(ctx, s.IssueH5Ticket("acct", models.TicketCode, "", time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		ticket(2 * day)                                             // spent two days ago: gone
		ticket(day + 2*time.Minute)                                 // expired a day and a minute ago: gone
		ticket(day - 2*time.Minute)                                 // expired within the day: kept
		ticket(time.Second)                                         // live: kept
		s.IssueH5Ticket("acct", models.TicketCode, "", time.Minute) // never opened: no row
		clock.Set(purgeNow)

		// Face verifications: as long as scans after they started, and
		// never before they expired.
		face := func(id string, createdAgo, expiresIn time.Duration) {
			fv := &models.FaceVerification{ID: id, VerifyID: "vid-" + id, Provider: "sandbox", AccountID: "acct", PersonID: "p",
				CreatedAt: purgeNow.Add(-createdAgo), ExpiresAt: purgeNow.Add(expiresIn)}
			if err := db.Create(fv).Error; err != nil {
				t.Fatal(err)
			}
		}
		face("old", 29*day, -29*day+10*time.Minute)
		face("oldstillopen", 29*day, time.Hour) // cannot happen today, but an open check is never cut short
		face("recent", 27*day, -27*day+10*time.Minute)

		// Session revocations: the session lifetime and a day.
		for i, ago := range []time.Duration{8*day + time.Minute, 8*day - time.Minute} {
			if err := db.Create(&models.SessionRevocation{AccountID: "acct", Version: int64(i + 1), CreatedAt: purgeNow.Add(-ago)}).Error; err != nil {
				t.Fatal(err)
			}
		}

		// Status changes: a week.
		for i, ago := range []time.Duration{8 * day, 6 * day} {
			if err := db.Create(&models.StatusChange{Seq: uint64(100 + i), PersonNo: 1, Colour: models.Red, At: purgeNow.Add(-ago)}).Error; err != nil {
				t.Fatal(err)
			}
		}

		// Audit rows: 180 days.
		for _, ago := range []time.Duration{181 * day, 179 * day} {
			if err := s.Audit(ctx, models.AuditEntry{At: purgeNow.Add(-ago), Actor: "system", Action: "test.aged", Subject: ago.String()}); err != nil {
				t.Fatal(err)
			}
		}

		// Identity claims: a claim no account holds any more goes after the
		// scan retention; an account's current claim stays.
		acct, err := s.UpsertAccount(ctx, "sandbox", "claimer", "")
		if err != nil {
			t.Fatal(err)
		}
		claim := func(ago time.Duration, name string) {
			clock.Set(purgeNow.Add(-ago))
			if _, err := s.ClaimIdentity(ctx, acct.ID, name, mustParse(t, "resident_id", "11010519491231002X"), "req"); err != nil {
				t.Fatal(err)
			}
		}
		claim(30*day, "张三")           // superseded, old: gone
		claim(29*day, "张三丰")          // superseded, old: gone
		claim(29*day-time.Hour, "张丰") // current, old: kept
		clock.Set(purgeNow)

		// Venue check-ins: 28 days after the check-in.
		for _, ago := range []time.Duration{29 * day, 28*day + time.Minute, 27 * day} {
			visit := models.NewVisit("acct", "venue", []models.CheckIn{{PersonID: "p", PersonNo: 1, MaskedName: "张*", MaskedDoc: "11**2X", Colour: models.Green}},
				purgeNow.Add(-ago))
			if err := s.RecordVisits(ctx, []*models.Visit{visit}); err != nil {
				t.Fatal(err)
			}
		}

		// Sampling tubes: 28 days after they were opened, their samples
		// with them (two people in each old tube, one in the kept ones).
		for i, ago := range []time.Duration{29 * day, 28*day + time.Minute, 27 * day, 26 * day} {
			clock.Set(purgeNow.Add(-ago))
			tube := fmt.Sprintf("T-PURGE-%04d", i)
			if _, err := s.OpenTube(ctx, tube, 10, "徐汇区采样点", "sampler-1"); err != nil {
				t.Fatal(err)
			}
			var regs []*models.SampleRegistration
			for j := range 2 - min(i/2, 1) {
				regs = append(regs, &models.SampleRegistration{Sample: models.Sample{SampleID: fmt.Sprintf("purge-%d-%d-xx", i, j), Tube: tube, Site: "徐汇区采样点",
					PersonID: fmt.Sprintf("p%d", j), PersonNo: uint32(j + 1), MaskedName: "张*", MaskedDoc: "11**2X", SamplerAccountID: "sampler-1",
					Method: models.IdentifiedByHand, SampledAt: purgeNow.Add(-ago + time.Hour)}})
			}
			if i == 1 {
				regs = regs[:1] // 29 days: 2, 28 days and a minute: 1
			}
			if err := s.RecordSamples(ctx, regs); err != nil || regs[0].Err != nil {
				t.Fatal(err, regs[0].Err)
			}
		}
		clock.Set(purgeNow)

		// Relative links: an ended one (deleted, rejected) 180 days after it
		// last changed; a live one never.
		for i, l := range []struct {
			status string
			ago    time.Duration
		}{{models.LinkDeleted, 181 * day}, {models.LinkRejected, 181 * day}, {models.LinkApproved, 400 * day}, {models.LinkDeleted, 179 * day}, {models.LinkPending, 181 * day}} {
			at := purgeNow.Add(-l.ago)
			if err := db.Exec("INSERT INTO relatives (id, account_id, person_id, relation, status, evidence, decided_by, note, created_at, updated_at) VALUES (?, 'acct', 'p', 'parent', ?, '', '', '', ?, ?)",
				fmt.Sprintf("rel-%d", i), l.status, at, at).Error; err != nil {
				t.Fatal(err)
			}
		}

		// Venues: an ended or rejected one 180 days after its end, its
		// deputyships with it; an active one never, however old.
		for i, v := range []struct {
			state string
			ended time.Duration // 0: not ended
		}{{models.VenueEnded, 181 * day}, {models.VenueRejected, 181 * day}, {models.VenueActive, 0}, {models.VenueEnded, 179 * day}} {
			var ended any
			if v.ended > 0 {
				ended = purgeNow.Add(-v.ended)
			}
			id := fmt.Sprintf("venue-%d", i)
			if err := db.Exec("INSERT INTO venues (id, registrar_account_id, registrar_person_no, name, address, district, kind, credit_code, state, generation, code_issued_at, rev, review_note, decided_by, created_at, ended_at) "+
				"VALUES (?, 'acct', 1, '商店', '地址', '310101', 'shop', '91350100M000100Y43', ?, 1, ?, 0, '', '', ?, ?)", id, v.state, purgeNow.Add(-400*day), purgeNow.Add(-400*day), ended).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Exec("INSERT INTO venue_deputies (venue_id, person_no, added_by, added_at) VALUES (?, 2, 'acct', ?)", id, purgeNow.Add(-400*day)).Error; err != nil {
				t.Fatal(err)
			}
		}

		report, err := s.Purge(ctx, defaultPolicy())
		if err != nil {
			t.Fatal(err)
		}
		var venuesLeft, deputiesLeft []string
		db.Table("venues").Order("id").Pluck("id", &venuesLeft)
		db.Table("venue_deputies").Order("venue_id").Pluck("venue_id", &deputiesLeft)
		if fmt.Sprint(venuesLeft) != "[venue-2 venue-3]" || fmt.Sprint(deputiesLeft) != "[venue-2 venue-3]" {
			t.Errorf("venues left %v, deputyships left %v, want the active one and the one ended 179 days ago", venuesLeft, deputiesLeft)
		}
		var tubesLeft []string
		db.Table("sampling_tubes").Order("tube").Pluck("tube", &tubesLeft)
		var samplesLeft []string
		db.Table("samples").Order("sample_id").Pluck("sample_id", &samplesLeft)
		if fmt.Sprint(tubesLeft) != "[T-PURGE-0002 T-PURGE-0003]" || fmt.Sprint(samplesLeft) != "[purge-2-0-xx purge-3-0-xx]" {
			t.Errorf("tubes left %v, samples left %v", tubesLeft, samplesLeft)
		}
		var linksLeft []string
		db.Table("relatives").Order("id").Pluck("id", &linksLeft)
		if fmt.Sprint(linksLeft) != "[rel-2 rel-3 rel-4]" {
			t.Errorf("relative links left %v, want the live two and the one ended 179 days ago", linksLeft)
		}
		want := map[string]int64{"verifications": 2, "h5_tickets": 2, "face_verifications": 1, "session_revocations": 1, "status_changes": 1, "identity_claims": 2, "check_ins": 2, "samples": 3, "sampling_tubes": 2, "offline_serials": 0, "offline_codes": 0, "offline_revocations": 0, "relatives": 2, "venue_deputies": 2, "venues": 2, "audit_log": 1}
		if got := removedFrom(report); fmt.Sprint(got) != fmt.Sprint(want) || report.Skipped {
			t.Errorf("removed %v (skipped %v), want %v", got, report.Skipped, want)
		}
		if got := report.Tables[0]; got.Table != "verifications" || !got.Before.Equal(purgeNow.Add(-28*day)) {
			t.Errorf("first table %+v, want verifications before %v", got, purgeNow.Add(-28*day))
		}

		var left []uint64
		db.Table("verifications").Order("id").Pluck("id", &left)
		if fmt.Sprint(left) != fmt.Sprint(scans[2:]) {
			t.Errorf("scans left %v, want the two younger than 28 days %v", left, scans[2:])
		}
		if n := countRows(t, db, "h5_tickets"); n != 2 {
			t.Errorf("%d tickets left, want 2", n)
		}
		var checkIns []time.Time
		db.Table("check_ins").Pluck("checked_in_at", &checkIns)
		if len(checkIns) != 1 || !checkIns[0].Equal(purgeNow.Add(-27*day)) {
			t.Errorf("check-ins left %v, want the 27-day one", checkIns)
		}
		var faces []string
		db.Table("face_verifications").Order("id").Pluck("id", &faces)
		if strings.Join(faces, ",") != "oldstillopen,recent" {
			t.Errorf("face verifications left %v", faces)
		}
		var versions []int64
		db.Table("session_revocations").Pluck("version", &versions)
		if fmt.Sprint(versions) != "[2]" {
			t.Errorf("revocations left %v, want the one within 8 days", versions)
		}
		aged, _ := s.AuditEntries(ctx, "test.aged", "")
		if len(aged) != 1 || aged[0].Subject != (179*day).String() {
			t.Errorf("aged audit rows left %+v, want the 179-day one", aged)
		}

		runs, _ := s.AuditEntries(ctx, "retention.purge", "")
		if len(runs) != 1 || runs[0].Actor != "system:purge" || !runs[0].At.Equal(purgeNow) ||
			runs[0].Detail != "verifications=2 h5_tickets=2 face_verifications=1 session_revocations=1 status_changes=1 identity_claims=2 check_ins=2 samples=3 sampling_tubes=2 offline_serials=0 offline_codes=0 offline_revocations=0 relatives=2 venue_deputies=2 venues=2 audit_log=1" {
			t.Errorf("purge audit rows %+v", runs)
		}

		// Nothing more is due: a second run removes nothing and is
		// audited all the same.
		report, err = s.Purge(ctx, defaultPolicy())
		if err != nil || report.Removed() != 0 {
			t.Errorf("second run removed %d, %v", report.Removed(), err)
		}
		if runs, _ := s.AuditEntries(ctx, "retention.purge", ""); len(runs) != 2 {
			t.Errorf("%d purge audit rows after two runs", len(runs))
		}

		// Time passes: what was kept falls due in its turn.
		clock.Set(purgeNow.Add(2 * day))
		report, err = s.Purge(ctx, defaultPolicy())
		if err != nil {
			t.Fatal(err)
		}
		want = map[string]int64{"verifications": 1, "h5_tickets": 2, "face_verifications": 2, "session_revocations": 1, "status_changes": 1, "identity_claims": 0, "check_ins": 1, "samples": 1, "sampling_tubes": 1, "offline_serials": 0, "offline_codes": 0, "offline_revocations": 0, "relatives": 1, "venue_deputies": 1, "venues": 1, "audit_log": 1}
		if got := removedFrom(report); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("two days on, removed %v, want %v", got, want)
		}
	})
}

// More expired rows than one batch holds are all removed, batch after
// batch, and the newer rows stay.
func TestPurgeWorksInBatches(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		clock := &setClock{now: purgeNow}
		s := store.NewStore(db, storetest.Vault(t), clock, shanghai)
		var old []time.Duration
		for i := range 53 {
			old = append(old, 60*day-time.Duration(i)*time.Minute)
		}
		addScans(t, db, s, "old", old...)
		kept := addScans(t, db, s, "new", day, time.Hour, time.Minute)
		for i := range 23 {
			clock.Set(purgeNow.Add(-3*day - time.Duration(i)*time.Minute))
			if _, err := s.RedeemH5Ticket(ctx, s.IssueH5Ticket("acct", models.TicketCode, "", time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		clock.Set(purgeNow)
		// Rows sharing one time across batches (an import audits many in
		// one transaction) all go.
		for i := range 12 {
			s.Audit(ctx, models.AuditEntry{At: purgeNow.Add(-200 * day), Actor: "system", Action: "test.aged", Subject: fmt.Sprint(i)})
		}

		p := defaultPolicy()
		p.BatchSize = 5
		report, err := s.Purge(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{"verifications": 53, "h5_tickets": 23, "face_verifications": 0, "session_revocations": 0, "status_changes": 0, "identity_claims": 0, "check_ins": 0, "samples": 0, "sampling_tubes": 0, "offline_serials": 0, "offline_codes": 0, "offline_revocations": 0, "relatives": 0, "venue_deputies": 0, "venues": 0, "audit_log": 12}
		if got := removedFrom(report); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("removed %v in batches of 5, want %v", got, want)
		}
		var left []uint64
		db.Table("verifications").Order("id").Pluck("id", &left)
		if fmt.Sprint(left) != fmt.Sprint(kept) {
			t.Errorf("scans left %v, want %v", left, kept)
		}
	})
}

// Scan ids rise with time, so the purge reads them in id order and stops
// after a batch that ends with a scan not due; within what it reads it
// removes only what is due. A scan written from a clock a year ahead is
// kept and holds back none of the rows after it.
func TestPurgeNeverRemovesAYoungerScan(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		s := store.NewStore(db, storetest.Vault(t), &setClock{now: purgeNow}, shanghai)
		ids := addScans(t, db, s, "h", 40*day, -365*day, 30*day, 30*day, time.Hour, 29*day, time.Minute)
		p := defaultPolicy()
		p.BatchSize = 3 // [40d, ahead, 30d] [30d, 1h, 29d] [1m]
		report, err := s.Purge(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		var left []uint64
		db.Table("verifications").Order("id").Pluck("id", &left)
		want := []uint64{ids[1], ids[4], ids[6]}
		if removedFrom(report)["verifications"] != 4 || fmt.Sprint(left) != fmt.Sprint(want) {
			t.Errorf("removed %d, left %v, want %v", removedFrom(report)["verifications"], left, want)
		}
	})
}

// Audit rows are kept 180 days whatever the policy says: a shorter one is
// refused before anything is deleted, as are empty retentions.
func TestPurgeRefusesAShortAuditRetention(t *testing.T) {
	db := storetest.Open(t, "sqlite")
	ctx := context.Background()
	s := store.NewStore(db, storetest.Vault(t), &setClock{now: purgeNow}, shanghai)
	s.Audit(ctx, models.AuditEntry{At: purgeNow.Add(-179 * day), Actor: "system", Action: "test.aged"})
	addScans(t, db, s, "h", 60*day)
	for name, change := range map[string]func(*store.RetentionPolicy){
		"audit an hour":       func(p *store.RetentionPolicy) { p.Audit = time.Hour },
		"audit a day short":   func(p *store.RetentionPolicy) { p.Audit = 179 * day },
		"no scan retention":   func(p *store.RetentionPolicy) { p.Scans = 0 },
		"no ticket retention": func(p *store.RetentionPolicy) { p.Tickets = 0 },
		"no session lifetime": func(p *store.RetentionPolicy) { p.SessionTTL = 0 },
	} {
		p := defaultPolicy()
		change(&p)
		if _, err := s.Purge(ctx, p); err == nil {
			t.Errorf("%s: purge ran", name)
		}
	}
	if n := countRows(t, db, "audit_log"); n != 1 {
		t.Errorf("%d audit rows, want the one of 179 days kept", n)
	}
	if n := countRows(t, db, "verifications"); n != 1 {
		t.Errorf("a refused policy deleted scans")
	}
}

// holdPurgeLock takes the purge lock of db's database on a connection of
// its own, as another node would, until the returned function releases it.
func holdPurgeLock(t *testing.T, db *gorm.DB) (release func()) {
	t.Helper()
	sqlDB, _ := db.DB()
	conn, err := sqlDB.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got int
	if err := conn.QueryRowContext(context.Background(), "SELECT GET_LOCK(CONCAT('healthcode_purge:', MD5(DATABASE())), 0)").Scan(&got); err != nil || got != 1 {
		t.Fatalf("take the purge lock: %d, %v", got, err)
	}
	return func() {
		conn.ExecContext(context.Background(), "SELECT RELEASE_LOCK(CONCAT('healthcode_purge:', MD5(DATABASE())))")
		conn.Close()
	}
}

// purgeLockHeld reports whether any session holds db's purge lock.
func purgeLockHeld(t *testing.T, db *gorm.DB) bool {
	var holder *int64
	if err := db.Raw("SELECT IS_USED_LOCK(CONCAT('healthcode_purge:', MD5(DATABASE())))").Scan(&holder).Error; err != nil {
		t.Fatal(err)
	}
	return holder != nil
}

// On MariaDB one node purges at a time: while another holds the lock a
// run skips, says so, removes nothing and writes no audit row.
func TestPurgeSkipsWhileAnotherNodePurges(t *testing.T) {
	db := storetest.Open(t, "mysql")
	ctx := context.Background()
	s := store.NewStore(db, storetest.Vault(t), &setClock{now: purgeNow}, shanghai)
	addScans(t, db, s, "h", 60*day, 59*day, 58*day, 57*day, 56*day, 55*day)

	release := holdPurgeLock(t, db)
	report, err := s.Purge(ctx, defaultPolicy())
	if err != nil || !report.Skipped || report.Removed() != 0 || report.String() != "skipped: another node is purging" {
		t.Errorf("purge under another's lock = %+v (%s), %v; want skipped", report, report, err)
	}
	if n := countRows(t, db, "verifications"); n != 6 {
		t.Errorf("a skipped run deleted: %d scans left", n)
	}
	if runs, _ := s.AuditEntries(ctx, "retention.purge", ""); len(runs) != 0 {
		t.Errorf("a skipped run was audited: %+v", runs)
	}
	release()

	// Two runs at once: the slow one (a batch of one row, a pause after
	// each) holds the lock for its whole run, and the other skips.
	slow := defaultPolicy()
	slow.BatchSize, slow.Pause = 1, 200*time.Millisecond
	done := make(chan store.PurgeReport)
	go func() {
		r, err := s.Purge(ctx, slow)
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	for deadline := time.Now().Add(10 * time.Second); !purgeLockHeld(t, db); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the slow run never took the lock")
		}
	}
	report, err = s.Purge(ctx, defaultPolicy())
	if err != nil || !report.Skipped {
		t.Errorf("the second of two runs at once = %+v, %v; want skipped", report, err)
	}
	if first := <-done; first.Skipped || first.Removed() != 6 {
		t.Errorf("the first of two runs = %+v, want all 6 scans removed", first)
	}
	if purgeLockHeld(t, db) {
		t.Error("the lock is still held after the run")
	}
	// With the lock free again the next run goes ahead.
	if report, err := s.Purge(ctx, defaultPolicy()); err != nil || report.Skipped {
		t.Errorf("after the run: %+v, %v", report, err)
	}
}

// A run whose context ends stops between batches, gives the lock back and
// audits what it removed, with the reason it stopped.
func TestPurgeStopsWhenCancelled(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		s := store.NewStore(db, storetest.Vault(t), &setClock{now: purgeNow}, shanghai)
		addScans(t, db, s, "h", 60*day, 59*day, 58*day)
		p := defaultPolicy()
		p.BatchSize, p.Pause = 1, time.Minute
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		report, err := s.Purge(ctx, p)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("cancelled run: %v, want the deadline", err)
		}
		if report.Removed() != 1 {
			t.Errorf("removed %d before the deadline, want the first batch of 1", report.Removed())
		}
		runs, _ := s.AuditEntries(context.Background(), "retention.purge", "")
		if len(runs) != 1 || !strings.HasPrefix(runs[0].Detail, "verifications=1 (stopped: ") {
			t.Errorf("audit of the stopped run: %+v", runs)
		}
		if db.Dialector.Name() == "mysql" && purgeLockHeld(t, db) {
			t.Error("the lock is still held after a cancelled run")
		}
		if report, err := s.Purge(context.Background(), defaultPolicy()); err != nil || report.Skipped || report.Removed() != 2 {
			t.Errorf("the next run: %+v, %v; want the other 2 scans", report, err)
		}
	})
}

// countSelects counts the statements db runs that read from table.
func countSelects(t *testing.T, db *gorm.DB, table string) func() int {
	t.Helper()
	var mu sync.Mutex
	n := 0
	count := func(tx *gorm.DB) {
		if sql := tx.Statement.SQL.String(); strings.HasPrefix(sql, "SELECT") && strings.Contains(sql, "FROM `"+table+"`") {
			mu.Lock()
			n++
			mu.Unlock()
		}
	}
	db.Callback().Query().After("gorm:query").Register("test:count_query", count)
	db.Callback().Row().After("gorm:row").Register("test:count_row", count)
	return func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// Once a batch of scans ends with one not due the run reads no further:
// the scans of the last four weeks are never read batch after batch.
func TestPurgeReadsNoFurtherThanItMust(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		s := store.NewStore(db, storetest.Vault(t), &setClock{now: purgeNow}, shanghai)
		ages := []time.Duration{40 * day, 39 * day, 38 * day}
		for i := range 30 {
			ages = append(ages, time.Duration(30-i)*time.Hour)
		}
		addScans(t, db, s, "h", ages...)
		selects := countSelects(t, db, "verifications")
		p := defaultPolicy()
		p.BatchSize = 2 // [40d, 39d] [38d, 30h] and no more
		report, err := s.Purge(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if got := removedFrom(report)["verifications"]; got != 3 || selects() != 2 {
			t.Errorf("removed %d scans reading %d batches, want 3 in 2", got, selects())
		}
	})
}

// BenchmarkPurgeBatch measures a purge run that removes one full batch of
// scans (1,000 rows): about the longest a write on the same table can wait
// behind one of its statements.
func BenchmarkPurgeBatch(b *testing.B) {
	for _, driver := range []string{"sqlite", "mysql"} {
		b.Run(driver, func(b *testing.B) {
			db := storetest.Open(b, driver)
			s := store.NewStore(db, storetest.Vault(b), &setClock{now: purgeNow}, shanghai)
			vs := make([]*models.Verification, store.DefaultPurgeBatch)
			for i := range vs {
				vs[i] = &models.Verification{VerifierAccountID: "v", HolderHandle: "h", Result: models.ResultValid, Colour: models.Green,
					Kind: "personal", Place: "gate", CodeID: "c", CheckedAt: purgeNow.Add(-40 * day)}
			}
			p := defaultPolicy()
			for b.Loop() {
				b.StopTimer()
				for i := 0; i < len(vs); i += 250 {
					if err := s.RecordVerifications(context.Background(), vs[i:i+250]); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				r, err := s.Purge(context.Background(), p)
				if err != nil || r.Removed() != int64(len(vs)) {
					b.Fatalf("removed %d, %v", r.Removed(), err)
				}
			}
		})
	}
}

// A registration into a due, still open tube while the purge deletes it
// waits for the purge and finds no tube: no sample outlives its tube (an
// orphan no later purge would find, since the purge walks the tubes).
func TestPurgeLeavesNoSampleWithoutItsTube(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		clock := &setClock{now: purgeNow.Add(-29 * day)}
		s := store.NewStore(db, storetest.Vault(t), clock, shanghai)
		const tube, site = "T-OLD-OPEN1", "徐汇区采样点"
		if _, err := s.OpenTube(ctx, tube, 20, site, "sampler-1"); err != nil {
			t.Fatal(err)
		}
		reg := func(id, person string) *models.SampleRegistration {
			return &models.SampleRegistration{Sample: models.Sample{SampleID: id, Tube: tube, Site: site, PersonID: person, PersonNo: 1,
				MaskedName: "张*", MaskedDoc: "11**2X", SamplerAccountID: "sampler-1", Method: models.IdentifiedByHand, SampledAt: clock.Now()}}
		}
		if r := reg("early-0001", "p1"); s.RecordSamples(ctx, []*models.SampleRegistration{r}) != nil || r.Err != nil {
			t.Fatal(r.Err)
		}
		clock.Set(purgeNow)
		injected := false
		late := make(chan struct{})
		err := db.Callback().Raw().After("gorm:raw").Register("test:late", func(tx *gorm.DB) {
			if injected || !strings.HasPrefix(tx.Statement.SQL.String(), "DELETE FROM samples") {
				return
			}
			injected = true
			go func() {
				r := reg("late-00001", "p2")
				err := s.RecordSamples(context.Background(), []*models.SampleRegistration{r})
				if err != nil || !errors.Is(r.Err, store.ErrTubeMissingForTest) {
					t.Errorf("late sample: %v %v, want the tube missing", err, r.Err)
				}
				close(late)
			}()
			time.Sleep(200 * time.Millisecond)
		})
		if err != nil {
			t.Fatal(err)
		}
		report, err := s.Purge(ctx, defaultPolicy())
		if err != nil {
			t.Fatal(err)
		}
		<-late
		db.Callback().Raw().Remove("test:late")
		var orphans []string
		db.Table("samples").Where("NOT EXISTS (SELECT 1 FROM sampling_tubes WHERE sampling_tubes.tube = samples.tube)").Pluck("sample_id", &orphans)
		report2, _ := s.Purge(ctx, defaultPolicy())
		var after []string
		db.Table("samples").Pluck("sample_id", &after)
		if len(orphans) > 0 {
			t.Errorf("orphaned samples %v (report %v); after a second purge (%v) still %v", orphans, report, report2, after)
		}
	})
}
