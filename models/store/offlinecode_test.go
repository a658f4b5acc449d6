package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/codetoken"
	"healthcode/models/document"
	"healthcode/models/fault"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

// TestOfflineRevocationReachesEveryNode: two stores on one database, each
// node's book polled every 2 s as serve does; a loss reported on one node
// answers reported_lost on the other within 5 s, a reissue reissued.
func TestOfflineRevocationReachesEveryNode(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		vault := storetest.Vault(t)
		a := store.NewStore(db, vault, models.SystemClock{}, shanghai)
		b := store.NewStore(db, vault, models.SystemClock{}, shanghai)
		p, err := a.EnsurePerson(ctx, "欧阳娜娜", mustParse(t, "resident_id", "11010519491231002X"))
		if err != nil {
			t.Fatal(err)
		}
		// Thirty years old whenever the test runs (the stores keep real time).
		youngID := "310115" + time.Now().In(shanghai).AddDate(-30, 0, 0).Format("20060102") + "041"
		young, err := a.EnsurePerson(ctx, "张伟", mustParse(t, "resident_id", youngID+string(document.CheckDigit(youngID))))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.IssueOfflineCode(ctx, young.ID, "test", ""); fault.CodeOf(err) != fault.CodeNotEligible {
			t.Fatalf("a 30-year-old: %v", err)
		}
		bookB := models.NewOfflineBook()
		if err := b.RefreshOffline(ctx, bookB); err != nil {
			t.Fatal(err)
		}
		pollAsServeDoes(t, func(ctx context.Context) { b.RefreshOffline(ctx, bookB) })
		policy := models.OfflinePolicy{Book: bookB}
		claims := func(c *models.OfflineCode) codetoken.Claims {
			return codetoken.Claims{Kind: codetoken.KindOffline, PersonNo: c.PersonNo, Serial: c.Serial, ID: c.CodeID()}
		}
		within := func(c *models.OfflineCode, want string) {
			t.Helper()
			start := time.Now()
			for {
				got, err := policy.Revoked(ctx, claims(c))
				if err != nil {
					t.Fatal(err)
				}
				if got == want {
					t.Logf("%q on the second node after %v", want, time.Since(start).Round(time.Millisecond))
					return
				}
				if time.Since(start) > 5*time.Second {
					t.Fatalf("serial %d on the second node: %q after 5 s, want %q", c.Serial, got, want)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		first, _, err := a.IssueOfflineCode(ctx, p.ID, "test", "")
		if err != nil {
			t.Fatal(err)
		}
		within(first, "")
		second, _, err := a.IssueOfflineCode(ctx, p.ID, "test", "")
		if err != nil {
			t.Fatal(err)
		}
		within(first, models.ReasonReissued)
		within(second, "")
		if err := a.ReportOfflineLoss(ctx, p.ID, "test", ""); err != nil {
			t.Fatal(err)
		}
		within(second, models.ReasonReportedLost)
		within(first, models.ReasonReissued)
		// The feed, from either node, in order.
		feed, err := b.OfflineRevocations(ctx, 0)
		if err != nil || len(feed.Entries) != 2 {
			t.Fatalf("feed %+v, %v", feed, err)
		}
		if rest, _ := b.OfflineRevocations(ctx, feed.Next); len(rest.Entries) != 0 {
			t.Errorf("after next: %+v", rest)
		}
	})
}

// pollAsServeDoes runs refresh every 2 s, as serve refreshes a node's
// books, until the test ends.
func pollAsServeDoes(t *testing.T, refresh func(ctx context.Context)) {
	ctx, stop := context.WithCancel(context.Background())
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for tick := time.NewTicker(2 * time.Second); ; {
			select {
			case <-ctx.Done():
				tick.Stop()
				return
			case <-tick.C:
				refresh(ctx)
			}
		}
	}()
	t.Cleanup(func() { stop(); <-polled })
}

// TestOfflineCodesArePurged: a superseded paper past its 180 days goes, the
// current one stays; a revocation goes 180 days after it was made.
func TestOfflineCodesArePurged(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		clock := &setClock{now: time.Date(2026, 6, 1, 4, 0, 0, 0, time.UTC)}
		s := store.NewStore(db, storetest.Vault(t), clock, shanghai)
		p, err := s.EnsurePerson(ctx, "欧阳娜娜", mustParse(t, "resident_id", "11010519491231002X"))
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, _, err := s.IssueOfflineCode(ctx, p.ID, "test", ""); err != nil {
				t.Fatal(err)
			}
		}
		count := func(table string) (n int64) { db.Table(table).Count(&n); return n }
		clock.now = clock.now.Add(180*24*time.Hour - time.Hour)
		if _, err := s.Purge(ctx, defaultPolicy()); err != nil {
			t.Fatal(err)
		}
		if count("offline_codes") != 2 || count("offline_revocations") != 1 {
			t.Fatalf("before 180 days: %d codes, %d revocations", count("offline_codes"), count("offline_revocations"))
		}
		clock.now = clock.now.Add(2 * time.Hour)
		if _, err := s.Purge(ctx, defaultPolicy()); err != nil {
			t.Fatal(err)
		}
		// Both papers are past their 180 days: the person's serial and both
		// codes go; a new issue starts at serial 1.
		if count("offline_codes") != 0 || count("offline_revocations") != 0 || count("offline_serials") != 0 {
			t.Fatalf("after 180 days: %d codes, %d revocations, %d serials", count("offline_codes"), count("offline_revocations"), count("offline_serials"))
		}
		if _, cur, err := s.CurrentOfflineCode(ctx, p.ID); err == nil || cur != nil {
			t.Errorf("an expired code is still current")
		}
		if code, _, err := s.IssueOfflineCode(ctx, p.ID, "test", ""); err != nil || code.Serial != 1 {
			t.Errorf("issue after the purge: %+v %v", code, err)
		}
	})
}

// TestOfflineBookAppliesChanges: after its first load a node's book reads
// only the serials written after the sequence it holds. A row removed
// behind the book's back (no version bump) stays in it through a later
// loss report and reissue of someone else: a book that read the whole
// table again would have lost it.
func TestOfflineBookAppliesChanges(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := store.NewStore(db, storetest.Vault(t), models.SystemClock{}, shanghai)
		elder, err := s.EnsurePerson(ctx, "欧阳娜娜", mustParse(t, "resident_id", "11010519491231002X"))
		if err != nil {
			t.Fatal(err)
		}
		other, err := s.EnsurePerson(ctx, "李梅", mustParse(t, "resident_id", "11010519600101024"+string(document.CheckDigit("11010519600101024"))))
		if err != nil {
			t.Fatal(err)
		}
		elderCode, _, err := s.IssueOfflineCode(ctx, elder.ID, "test", "")
		if err != nil {
			t.Fatal(err)
		}
		book := models.NewOfflineBook()
		if err := s.RefreshOffline(ctx, book); err != nil {
			t.Fatal(err)
		}
		loaded := book.Seq()
		if err := db.Exec("DELETE FROM offline_serials WHERE person_id = ?", elder.ID).Error; err != nil {
			t.Fatal(err)
		}
		first, _, err := s.IssueOfflineCode(ctx, other.ID, "test", "")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ReportOfflineLoss(ctx, other.ID, "test", ""); err != nil {
			t.Fatal(err)
		}
		second, _, err := s.IssueOfflineCode(ctx, other.ID, "test", "")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RefreshOffline(ctx, book); err != nil {
			t.Fatal(err)
		}
		if book.Seq() != loaded+3 {
			t.Errorf("book at sequence %d, want %d (three changes after %d)", book.Seq(), loaded+3, loaded)
		}
		policy := models.OfflinePolicy{Book: book}
		revoked := func(c *models.OfflineCode) string {
			t.Helper()
			r, err := policy.Revoked(ctx, codetoken.Claims{Kind: codetoken.KindOffline, PersonNo: c.PersonNo, Serial: c.Serial, ID: c.CodeID()})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		stale := *elderCode
		stale.Serial = 0
		if got := revoked(&stale); got != models.ReasonReissued {
			t.Errorf("the row removed behind the book's back is gone from it (%q): the book read the whole table again", got)
		}
		if got := revoked(first); got != models.ReasonReissued {
			t.Errorf("the lost then reissued first paper: %q", got)
		}
		if got := revoked(second); got != "" {
			t.Errorf("the current paper: %q", got)
		}
		// A refresh with nothing new changes nothing.
		if err := s.RefreshOffline(ctx, book); err != nil || book.Seq() != loaded+3 {
			t.Errorf("idle refresh: seq %d, %v", book.Seq(), err)
		}
	})
}

// BenchmarkOfflineRefresh measures a node catching up with one reissue
// among n current serials: applying the rows after its sequence (delta)
// against reading the table whole into a new book (reload, what a change
// cost before the book followed sequences), side by side in one run.
func BenchmarkOfflineRefresh(b *testing.B) {
	const n = 100_000
	for _, driver := range []string{"sqlite", "mysql"} {
		b.Run(driver, func(b *testing.B) {
			db := storetest.Open(b, driver)
			ctx := context.Background()
			s := store.NewStore(db, storetest.Vault(b), models.SystemClock{}, shanghai)
			fill := "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) " +
				"INSERT INTO offline_serials (person_id, person_no, serial, lost, code_id, seq, updated_at) " +
				"SELECT 'p' || x, x + 10, 1, 0, 'c' || x, 0, CURRENT_TIMESTAMP FROM c"
			if driver == "mysql" {
				fill = "INSERT INTO offline_serials (person_id, person_no, serial, lost, code_id, seq, updated_at) " +
					"SELECT CONCAT('p', seq), seq + 10, 1, 0, CONCAT('c', seq), 0, NOW() FROM seq_1_to_%d"
			}
			if err := db.Exec(fmt.Sprintf(fill, n)).Error; err != nil {
				b.Fatal(err)
			}
			p, err := s.EnsurePerson(ctx, "欧阳娜娜", mustParse(b, "resident_id", "11010519491231002X"))
			if err != nil {
				b.Fatal(err)
			}
			book := models.NewOfflineBook()
			if err := s.RefreshOffline(ctx, book); err != nil {
				b.Fatal(err)
			}
			for _, mode := range []string{"delta", "reload"} {
				b.Run(mode, func(b *testing.B) {
					for b.Loop() {
						b.StopTimer()
						if _, _, err := s.IssueOfflineCode(ctx, p.ID, "bench", ""); err != nil {
							b.Fatal(err)
						}
						target := book
						if mode == "reload" {
							target = models.NewOfflineBook()
						}
						b.StartTimer()
						if err := s.RefreshOffline(ctx, target); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// TestOfflineIssuesAtOnceLeaveOneLivePaper: eight issues at once for a
// registered person who holds no code yet (kiosks by the ID card, the
// person online) leave one live code: serials 1 to k, each superseded by
// the next, the last one live.
// A passport carries no birth date: the kiosk's is kept, so a later issue
// by the person's handle (online) judges the same age; an impossible one is
// refused.
func TestOfflineIssuesAtOnceLeaveOneLivePaper(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := store.NewStore(db, storetest.Vault(t), models.SystemClock{}, shanghai)
		doc := mustParse(t, "passport", "E98765432")
		if _, _, err := s.IssueOfflineByDocument(ctx, "Ada Lovelace", doc, "1890-01-01", "kiosk:k1", ""); fault.CodeOf(err) != "invalid_birth_date" {
			t.Fatalf("born 1890: %v, want invalid_birth_date", err)
		}
		// Registered (by a verification, say) with no code yet, so no
		// serial row; then kiosks and the person online at once.
		elder := mustParse(t, "resident_id", "11010519491231002X")
		registered, err := s.EnsurePerson(ctx, "欧阳娜娜", elder)
		if err != nil {
			t.Fatal(err)
		}
		const n = 8
		errs := make(chan error, n)
		for i := range n {
			go func() {
				var err error
				if i%2 == 0 {
					_, _, err = s.IssueOfflineByDocument(ctx, "欧阳娜娜", elder, "", "kiosk:k1", "")
				} else {
					_, _, err = s.IssueOfflineCode(ctx, registered.ID, "account:a1", "")
				}
				errs <- err
			}()
		}
		// Five a day at most: the three over it are refused, also at once.
		refused := 0
		for range n {
			switch err := <-errs; {
			case fault.CodeOf(err) == fault.CodeOfflineCodeLimit:
				refused++
			case err != nil:
				t.Errorf("issue: %v", err)
			}
		}
		if refused != n-store.MaxOfflineIssuesPerDay {
			t.Errorf("%d of %d issues at once refused, want %d", refused, n, n-store.MaxOfflineIssuesPerDay)
		}
		var codes []struct {
			Serial    int64
			RevokedAt *time.Time
		}
		if err := db.Table("offline_codes").Select("serial, revoked_at").Order("serial").Scan(&codes).Error; err != nil {
			t.Fatal(err)
		}
		live := 0
		for i, c := range codes {
			if c.Serial != int64(i+1) {
				t.Errorf("code %d has serial %d: two issues took one serial", i, c.Serial)
			}
			if c.RevokedAt == nil {
				live++
			}
		}
		if len(codes) != store.MaxOfflineIssuesPerDay || live != 1 || codes[len(codes)-1].RevokedAt != nil {
			t.Fatalf("%d codes, %d live (the last live: %v), want %d and only the last live", len(codes), live, codes[len(codes)-1].RevokedAt == nil, store.MaxOfflineIssuesPerDay)
		}
		// The passport holder: the kiosk's birth date is kept.
		if _, _, err := s.IssueOfflineByDocument(ctx, "Ada Lovelace", doc, "1950-12-10", "kiosk:k1", ""); err != nil {
			t.Fatal(err)
		}
		var personID string
		if err := db.Table("persons").Select("id").Where("birth_date = ?", "1950-12-10").Scan(&personID).Error; err != nil || personID == "" {
			t.Fatalf("the kiosk's birth date was not kept on the person (%v)", err)
		}
		if code, _, err := s.IssueOfflineCode(ctx, personID, "account:a1", ""); err != nil || code.Serial != 2 {
			t.Fatalf("online issue after the kiosk's: %+v %v", code, err)
		}
	})
}

// TestOperatorBirthDate: an operator gives the birth date a passport does
// not carry; the holder then may hold an offline code by age. A resident ID
// card's own date is never overwritten; an impossible date is refused.
func TestOperatorBirthDate(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := store.NewStore(db, storetest.Vault(t), models.SystemClock{}, shanghai)
		passport := mustParse(t, "passport", "E55667788")
		p, err := s.EnsurePerson(ctx, "Grace Hopper", passport)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.IssueOfflineCode(ctx, p.ID, "account:a1", ""); fault.CodeOf(err) != fault.CodeNotEligible {
			t.Fatalf("without a birth date: %v", err)
		}
		if _, err := s.SetBirthDate(ctx, passport, "2999-01-01", "operator:x", ""); fault.CodeOf(err) != "invalid_birth_date" {
			t.Fatalf("a birth date in the future: %v", err)
		}
		if _, err := s.SetBirthDate(ctx, mustParse(t, "resident_id", "11010519491231002X"), "1950-01-01", "operator:x", ""); fault.CodeOf(err) != "birth_date_on_document" {
			t.Fatalf("over a resident ID's own date: %v", err)
		}
		if _, err := s.SetBirthDate(ctx, mustParse(t, "passport", "E00000001"), "1950-01-01", "operator:x", ""); fault.KindOf(err) != fault.KindNotFound {
			t.Fatalf("an unregistered document: %v", err)
		}
		if _, err := s.SetBirthDate(ctx, passport, "1946-12-09", "operator:x", ""); err != nil {
			t.Fatal(err)
		}
		if code, _, err := s.IssueOfflineCode(ctx, p.ID, "account:a1", ""); err != nil || code.Serial != 1 {
			t.Fatalf("after the operator's birth date: %+v %v", code, err)
		}
		if audit, _ := s.AuditEntries(ctx, "person.birth_date", p.ID); len(audit) != 1 || audit[0].Actor != "operator:x" {
			t.Errorf("audit %+v", audit)
		}
	})
}
