package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

func newStore(t *testing.T, db *gorm.DB) *store.Store {
	return store.NewStore(db, storetest.Vault(t), models.SystemClock{}, shanghai)
}

func mustParse(t testing.TB, docType, number string) document.Document {
	t.Helper()
	doc, err := document.Parse(docType, number, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestPersonIsStoredSealed(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		const name, number = "欧阳娜娜", "11010519491231002X"
		p, err := s.EnsurePerson(ctx, name, mustParse(t, "resident_id", number))
		if err != nil {
			t.Fatal(err)
		}

		// Read the raw row, every column as bytes, as an attacker with the
		// database file would.
		rows, err := db.Raw("SELECT * FROM persons WHERE id = ?", p.ID).Rows()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		if !rows.Next() {
			t.Fatal("no row")
		}
		raw := make([]any, len(cols))
		for i := range raw {
			raw[i] = new([]byte)
		}
		if err := rows.Scan(raw...); err != nil {
			t.Fatal(err)
		}
		for i, c := range cols {
			v := *(raw[i].(*[]byte))
			for _, secret := range []string{name, number, "娜娜", "19491231002"} {
				if bytes.Contains(v, []byte(secret)) {
					t.Errorf("column %s holds %q in clear", c, secret)
				}
			}
		}
		if p.MaskedName != "欧阳**" || p.MaskedDoc != "11**************2X" || p.BirthDate != "1949-12-31" {
			t.Errorf("masked forms: %q %q %q", p.MaskedName, p.MaskedDoc, p.BirthDate)
		}

		gotName, gotNumber, err := s.UnsealIdentity(store.PersonIdentity(p))
		if err != nil || gotName != name || gotNumber != number {
			t.Errorf("UnsealIdentity = %q %q %v", gotName, gotNumber, err)
		}
	})
}

func TestEnsurePersonFindsTheSameDocument(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		first, err := s.EnsurePerson(ctx, "张三", mustParse(t, "resident_id", "11010519491231002X"))
		if err != nil {
			t.Fatal(err)
		}
		// Lower-case x is the same document.
		again, err := s.EnsurePerson(ctx, "张三", mustParse(t, "resident_id", "11010519491231002x"))
		if err != nil || again.ID != first.ID {
			t.Fatalf("second EnsurePerson = %v, %v; want person %s", again, err, first.ID)
		}
		_, err = s.EnsurePerson(ctx, "李四", mustParse(t, "resident_id", "11010519491231002X"))
		if fault.CodeOf(err) != fault.CodeNameMismatch || fault.KindOf(err) != fault.KindInvalid {
			t.Errorf("other name: err = %v, want %s", err, fault.CodeNameMismatch)
		}
		byDoc, err := s.PersonByDocument(ctx, mustParse(t, "resident_id", "11010519491231002X"))
		if err != nil || byDoc.ID != first.ID {
			t.Errorf("PersonByDocument = %v, %v", byDoc, err)
		}
		_, err = s.PersonByDocument(ctx, mustParse(t, "passport", "E12345678"))
		if fault.KindOf(err) != fault.KindNotFound {
			t.Errorf("unknown document: err = %v, want not found", err)
		}
	})
}

func TestConcurrentFirstSightsMakeOnePersonAndOneAccount(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		doc := mustParse(t, "resident_id", "11010519491231002X")
		const n = 20
		persons, accounts := make([]string, n), make([]string, n)
		errs := make(chan error, 2*n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				p, err := s.EnsurePerson(ctx, "张三", doc)
				if err != nil {
					errs <- err
					return
				}
				persons[i] = p.ID
			})
			wg.Go(func() {
				a, err := s.UpsertAccount(ctx, models.PlatformWeChat, "openid-1", fmt.Sprintf("union-%d", i%2))
				if err != nil {
					errs <- err
					return
				}
				accounts[i] = a.ID
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			t.FailNow()
		}
		for i := range n {
			if persons[i] != persons[0] || accounts[i] != accounts[0] {
				t.Fatalf("concurrent first sights disagree: persons %v accounts %v", persons, accounts)
			}
		}
		var count int64
		db.Table("accounts").Count(&count)
		if count != 1 {
			t.Errorf("%d accounts, want 1", count)
		}
	})
}

func TestUpsertAccountKeepsPlatformsApart(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		w, err := s.UpsertAccount(ctx, models.PlatformWeChat, "same-id", "")
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.UpsertAccount(ctx, models.PlatformAlipay, "same-id", "")
		if err != nil {
			t.Fatal(err)
		}
		if w.ID == a.ID {
			t.Error("a WeChat and an Alipay user with the same id share an account")
		}
		got, err := s.AccountByID(ctx, w.ID)
		if err != nil || got.Platform != models.PlatformWeChat || got.SessionVersion != 1 || got.PersonID != nil {
			t.Errorf("AccountByID = %+v, %v", got, err)
		}
		if _, err := s.AccountByID(ctx, "nope"); fault.KindOf(err) != fault.KindNotFound {
			t.Errorf("unknown account: %v", err)
		}
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		applied, err := store.Migrate(ctx, db, models.SystemClock{})
		if err != nil || len(applied) != 0 {
			t.Fatalf("second Migrate applied %v, %v", applied, err)
		}
		v, err := newStore(t, db).Ready(ctx)
		if err != nil || v != store.LatestSchemaVersion() {
			t.Errorf("Ready = %d, %v", v, err)
		}
	})
}

// Verifications, written on every scan, keep one secondary index: holder
// and time.
func TestVerificationsIndexes(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		indexes, err := db.Migrator().GetIndexes("verifications")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, idx := range indexes {
			if pk, _ := idx.PrimaryKey(); pk {
				continue
			}
			got = append(got, idx.Name()+"("+strings.Join(idx.Columns(), ",")+")")
		}
		if want := []string{"idx_verifications_holder_time(holder_handle,checked_at)"}; !slices.Equal(got, want) {
			t.Errorf("indexes on verifications = %v, want %v", got, want)
		}
	})
}

func TestAuditLog(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		for i := range 3 {
			if err := s.Audit(ctx, models.AuditEntry{Actor: "system", Action: "test.action", Subject: fmt.Sprint(i % 2)}); err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.AuditEntries(ctx, "test.action", "")
		if err != nil || len(all) != 3 || all[0].At.IsZero() {
			t.Fatalf("AuditEntries = %+v, %v", all, err)
		}
		one, _ := s.AuditEntries(ctx, "test.action", "1")
		if len(one) != 1 {
			t.Errorf("subject filter gave %d entries", len(one))
		}
	})
}

func asError(err error, target **fault.Error) bool { return errors.As(err, target) }

// A database that took a later migration first (branches landing in either
// order) still gets the earlier one, and until then says it is at the
// version before the gap.
func TestMigrateRunsAnEarlierMigrationLandedLater(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		// Undo migration 8 (two indexes) and forget it.
		for _, ix := range []struct{ table, name string }{{"h5_tickets", "idx_h5_tickets_expires_at"}, {"face_verifications", "idx_face_verifications_created_at"}} {
			if err := db.Migrator().DropIndex(ix.table, ix.name); err != nil {
				t.Fatal(err)
			}
		}
		if err := store.ForgetMigration(db, 8); err != nil {
			t.Fatal(err)
		}
		if v, err := store.SchemaVersion(ctx, db); err != nil || v != 7 {
			t.Fatalf("SchemaVersion with 8 missing = %d, %v; want 7", v, err)
		}
		if _, err := newStore(t, db).Ready(ctx); err == nil {
			t.Fatal("Ready accepted a schema with migration 8 missing")
		}
		applied, err := store.Migrate(ctx, db, models.SystemClock{})
		if err != nil || len(applied) != 1 || !strings.HasPrefix(applied[0], "8 ") {
			t.Fatalf("Migrate applied %v, %v; want migration 8 alone", applied, err)
		}
		if !db.Migrator().HasIndex("h5_tickets", "idx_h5_tickets_expires_at") {
			t.Error("migration 8's index is missing after Migrate")
		}
		if v, err := newStore(t, db).Ready(ctx); err != nil || v != store.LatestSchemaVersion() {
			t.Errorf("Ready = %d, %v", v, err)
		}
	})
}
