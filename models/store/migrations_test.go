package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

// emptyDB opens a database of the driver with no migration applied.
func emptyDB(t *testing.T, driver string) *gorm.DB {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "test.db")
	if driver == "mysql" {
		dsn = storetest.MySQLDSN(t)
	}
	db, err := store.OpenDB(context.Background(), store.DBOptions{Driver: driver, DSN: dsn, MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.CloseDB(db) })
	return db
}

// mysqlColumn is a column as information_schema describes it.
type mysqlColumn struct {
	TableName, ColumnName, ColumnType, IsNullable string
	ColumnDefault, CollationName                  *string
}

func mysqlColumns(t *testing.T, db *gorm.DB) map[string]mysqlColumn {
	t.Helper()
	var cols []mysqlColumn
	err := db.Raw(`SELECT table_name AS table_name, column_name AS column_name, column_type AS column_type,
		is_nullable AS is_nullable, column_default AS column_default, collation_name AS collation_name
		FROM information_schema.columns WHERE table_schema = DATABASE()`).Scan(&cols).Error
	if err != nil || len(cols) == 0 {
		t.Fatalf("read columns: %d, %v", len(cols), err)
	}
	out := map[string]mysqlColumn{}
	for _, c := range cols {
		out[c.TableName+"."+c.ColumnName] = c
	}
	return out
}

func mysqlIndexes(t *testing.T, db *gorm.DB) []string {
	t.Helper()
	var rows []struct {
		TableName, IndexName, ColumnName string
		NonUnique, SeqInIndex            int
	}
	err := db.Raw(`SELECT table_name AS table_name, index_name AS index_name, column_name AS column_name,
		non_unique AS non_unique, seq_in_index AS seq_in_index
		FROM information_schema.statistics WHERE table_schema = DATABASE()`).Scan(&rows).Error
	if err != nil || len(rows) == 0 {
		t.Fatalf("read indexes: %d, %v", len(rows), err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%s.%s unique=%v %d:%s", r.TableName, r.IndexName, r.NonUnique == 0, r.SeqInIndex, r.ColumnName))
	}
	slices.Sort(out)
	return out
}

// isIdentifier says whether a column holds identifiers that must compare
// byte for byte: ids, handles, platform user ids and the actors and
// subjects that name accounts.
func isIdentifier(column string) bool {
	switch column {
	case "id", "platform", "actor", "subject", "granted_by", "decided_by":
		return true
	}
	return strings.HasSuffix(column, "_id") || strings.HasSuffix(column, "handle")
}

// Every identifier column compares byte for byte on MySQL, including any a
// later migration adds.
func TestIdentifierColumnsAreBinary(t *testing.T) {
	db := storetest.Open(t, "mysql")
	n := 0
	for name, c := range mysqlColumns(t, db) {
		if c.CollationName == nil || !isIdentifier(c.ColumnName) {
			continue
		}
		n++
		if *c.CollationName != "utf8mb4_bin" {
			t.Errorf("%s compares under %s, want utf8mb4_bin", name, *c.CollationName)
		}
	}
	if n < 30 {
		t.Errorf("only %d identifier columns found", n)
	}
}

// Migration 9 changes the collation of identifier columns and nothing else
// in the schema: types, nullability, defaults and indexes stay.
func TestMigration9ChangesOnlyCollations(t *testing.T) {
	db := emptyDB(t, "mysql")
	if err := store.MigrateTo(db, 8); err != nil {
		t.Fatal(err)
	}
	before, beforeIdx := mysqlColumns(t, db), mysqlIndexes(t, db)
	if err := store.MigrateTo(db, 9); err != nil {
		t.Fatal(err)
	}
	after, afterIdx := mysqlColumns(t, db), mysqlIndexes(t, db)
	if !slices.Equal(beforeIdx, afterIdx) {
		t.Errorf("indexes changed:\nbefore %v\nafter  %v", beforeIdx, afterIdx)
	}
	for name, b := range before {
		a, ok := after[name]
		if !ok {
			t.Errorf("%s is gone", name)
			continue
		}
		if a.ColumnType != b.ColumnType || a.IsNullable != b.IsNullable || fmt.Sprint(deref(a.ColumnDefault)) != fmt.Sprint(deref(b.ColumnDefault)) {
			t.Errorf("%s changed from %s null=%s default=%v to %s null=%s default=%v", name,
				b.ColumnType, b.IsNullable, deref(b.ColumnDefault), a.ColumnType, a.IsNullable, deref(a.ColumnDefault))
		}
		if b.CollationName != nil && !isIdentifier(b.ColumnName) && *a.CollationName != *b.CollationName {
			t.Errorf("%s, not an identifier, changed collation to %s", name, *a.CollationName)
		}
	}
	if c, ok := after["audit_log.client_request_id"]; !ok || c.ColumnType != "varchar(64)" || c.IsNullable != "NO" {
		t.Errorf("audit_log.client_request_id = %+v", c)
	}
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// Migration 9 re-masks the stored short documents by the new rule, from
// the masked form alone, and keeps what was there: accounts that differ
// only in case stay apart and are found exactly.
func TestMigration9RemasksShortDocuments(t *testing.T) {
	for _, driver := range []string{"sqlite", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			db := emptyDB(t, driver)
			if err := store.MigrateTo(db, 8); err != nil {
				t.Fatal(err)
			}
			persons := map[string]string{ // id → masked document by the old rule
				"p1": "11**************2X", "p2": "E1*****78", "p3": "12****78", "p4": "AB*23", "p5": "****",
			}
			for id, masked := range persons {
				err := db.Exec(`INSERT INTO persons (id, doc_type, doc_hash, name_sealed, doc_sealed, masked_name, masked_doc, birth_date)
					VALUES (?, 'passport', ?, ?, ?, '张*', ?, '')`, id, []byte(id), []byte{1}, []byte{1}, masked).Error
				if err != nil {
					t.Fatal(err)
				}
			}
			err := db.Exec(`INSERT INTO accounts (id, platform, platform_user_id, union_id, session_version, face_verified_on)
				VALUES ('a1', 'sandbox', 'Victim', '', 1, '')`).Error
			if err != nil {
				t.Fatal(err)
			}
			if err := store.MigrateTo(db, 9); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"p1": "11**************2X", "p2": "E1******8", "p3": "1******8", "p4": "A****", "p5": "****",
			}
			for id, w := range want {
				var got string
				if err := db.Raw("SELECT masked_doc FROM persons WHERE id = ?", id).Scan(&got).Error; err != nil || got != w {
					t.Errorf("person %s: masked_doc %q → %q (%v), want %q", id, persons[id], got, err, w)
				}
			}
			for user, want := range map[string]int64{"Victim": 1, "victim": 0, "vîctim": 0} {
				var n int64
				db.Table("accounts").Where("platform = 'sandbox' AND platform_user_id = ?", user).Count(&n)
				if n != want {
					t.Errorf("accounts with platform user %q: %d, want %d", user, n, want)
				}
			}
		})
	}
}

// Migration 10 numbers the people already there (a run stopped half-way
// goes on where it was), logs the listed ones' colours, and leaves the log's
// lock row at the last sequence it handed out.
func TestMigration10NumbersExistingPeopleAndResumes(t *testing.T) {
	for _, driver := range []string{"sqlite", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			db := emptyDB(t, driver)
			if err := store.MigrateTo(db, 9); err != nil {
				t.Fatal(err)
			}
			for i, id := range []string{"pa", "pb", "pc"} {
				err := db.Exec("INSERT INTO persons (id, doc_type, doc_hash, name_sealed, doc_sealed, masked_name, masked_doc, birth_date, created_at, updated_at) "+
					"VALUES (?, 'resident_id', ?, ?, ?, '张*', '11**2X', '', ?, ?)", id, []byte{byte(i), 1}, []byte{1}, []byte{1}, time.Now(), time.Now()).Error
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Exec("INSERT INTO status_entries (source, doc_hash, colour, reason, import_id) VALUES ('cdc', ?, 'red', '密接', 'imp1')", []byte{1, 1}).Error; err != nil {
				t.Fatal(err)
			}
			// A first run that stopped after adding the column and numbering one.
			if err := db.Exec("ALTER TABLE persons ADD COLUMN no INTEGER NOT NULL DEFAULT 0").Error; err != nil {
				t.Fatal(err)
			}
			if err := store.MigrateTo(db, 10); err != nil {
				t.Fatalf("migration 10 after a stopped run: %v", err)
			}
			var nos []uint32
			db.Table("persons").Order("no").Pluck("no", &nos)
			if len(nos) != 3 || nos[0] == 0 || nos[0] == nos[1] || nos[1] == nos[2] {
				t.Errorf("numbers %v", nos)
			}
			var red []models.PersonStatus
			db.Table("person_status").Find(&red)
			var lock struct{ Version int64 }
			db.Table("data_versions").Where("name = 'status_log'").Take(&lock)
			if len(red) != 1 || red[0].Colour != models.Red || red[0].Seq != 1 || lock.Version != 1 {
				t.Errorf("statuses %+v, log at %d", red, lock.Version)
			}
		})
	}
}

// Migration 22 rekeys the check-ins written before it, visit by visit, so a
// visit's page and the purge find them by the primary key, and drops the
// indexes by visit and by time.
func TestMigration22RekeysCheckInsByTime(t *testing.T) {
	for _, driver := range []string{"sqlite", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			db := emptyDB(t, driver)
			if err := store.MigrateTo(db, 21); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
			old := []struct{ id, visit, account string }{
				{"aaaaaaaaaaaaaaaaaaaaaaaaaa", "vvvvvvvvvvvvvvvvvvvvvvvvvv", "acct"},
				{"bbbbbbbbbbbbbbbbbbbbbbbbbb", "vvvvvvvvvvvvvvvvvvvvvvvvvv", "acct"},
				{"cccccccccccccccccccccccccc", "wwwwwwwwwwwwwwwwwwwwwwwwww", "acct"},
			}
			for i, c := range old {
				err := db.Exec("INSERT INTO check_ins (id, visit_id, venue_id, account_id, person_id, person_no, masked_name, masked_doc, colour, checked_in_at) "+
					"VALUES (?, ?, 'venue', ?, ?, ?, '张*', '11**2X', 'green', ?)", c.id, c.visit, c.account, fmt.Sprint("p", i), i+1, at.Add(time.Duration(i)*time.Minute)).Error
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := store.MigrateTo(db, 22); err != nil {
				t.Fatal(err)
			}
			var rows []models.CheckIn
			db.Order("person_no").Find(&rows)
			if len(rows) != 3 {
				t.Fatalf("%d check-ins after the migration", len(rows))
			}
			if rows[0].VisitID != rows[1].VisitID || rows[0].VisitID == rows[2].VisitID {
				t.Errorf("visits %q %q %q: the first two were one visit", rows[0].VisitID, rows[1].VisitID, rows[2].VisitID)
			}
			for i, r := range rows {
				if len(r.ID) != 28 || r.ID[:26] != r.VisitID {
					t.Errorf("check-in %d: id %q, visit %q", i, r.ID, r.VisitID)
				}
			}
			s := store.NewStore(db, storetest.Vault(t), &setClock{now: at}, shanghai)
			if err := db.Create(&models.Venue{ID: "venue", RegistrarAccountID: "r", Name: "老街茶馆", Address: "南京路1号", District: "310101", Kind: "shop", State: "active"}).Error; err != nil {
				t.Fatal(err)
			}
			visit, err := s.VisitOf(context.Background(), "acct", rows[0].VisitID)
			if err != nil || len(visit.CheckIns) != 2 {
				t.Errorf("the rekeyed visit: %+v, %v", visit, err)
			}
			m := db.Table("check_ins").Migrator()
			for _, name := range []string{"idx_check_ins_visit", "idx_check_ins_time"} {
				if m.HasIndex("check_ins", name) {
					t.Errorf("%s is still there", name)
				}
			}
		})
	}
}

// Migration 23 applies on a database with samples and tubes, and runs
// again after a run that stopped between its steps (the tubes' index not
// yet made, the version not recorded).
func TestMigration23RunsAgain(t *testing.T) {
	for _, driver := range []string{"sqlite", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			db := emptyDB(t, driver)
			if err := store.MigrateTo(db, 22); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
			for i := range 50 {
				if err := db.Exec("INSERT INTO sampling_tubes (tube, mode, site, sampler_account_id, count, state, short, opened_at, result) VALUES (?, 20, 's', 'a', 1, 'open', 0, ?, '')",
					fmt.Sprintf("T-MIG-%05d", i), at).Error; err != nil {
					t.Fatal(err)
				}
				if err := db.Exec("INSERT INTO samples (sample_id, tube, position, person_id, person_no, masked_name, masked_doc, site, sampler_account_id, method, resampled, sampled_at) VALUES (?, ?, 1, ?, 1, 'x', 'x', 's', 'a', 'manual', 0, ?)",
					fmt.Sprintf("sample-%05d", i), fmt.Sprintf("T-MIG-%05d", i), fmt.Sprintf("p%d", i%7), at).Error; err != nil {
					t.Fatal(err)
				}
			}
			if err := store.MigrateTo(db, 23); err != nil {
				t.Fatal(err)
			}
			indexes := func() string {
				m := db.Table("samples").Migrator()
				return fmt.Sprint(m.HasIndex("samples", "idx_samples_person_sampled_tube"), m.HasIndex("samples", "idx_samples_person_sampled"),
					db.Table("sampling_tubes").Migrator().HasIndex("sampling_tubes", "idx_sampling_tubes_opened"))
			}
			if got := indexes(); got != "true false true" {
				t.Errorf("after 23: new, old, tubes' index = %s, want true false true", got)
			}
			// A run that stopped before its last step: the tubes' index missing, not recorded.
			if err := db.Exec("DROP INDEX idx_sampling_tubes_opened ON sampling_tubes").Error; err != nil {
				if err := db.Exec("DROP INDEX idx_sampling_tubes_opened").Error; err != nil {
					t.Fatal(err)
				}
			}
			if err := store.ForgetMigration(db, 23); err != nil {
				t.Fatal(err)
			}
			if _, err := store.Migrate(context.Background(), db, models.SystemClock{}); err != nil {
				t.Errorf("re-run after a partial migration 23: %v", err)
			}
			if got := indexes(); got != "true false true" {
				t.Errorf("after the re-run: new, old, tubes' index = %s, want true false true", got)
			}
		})
	}
}

// Migrations 19 to 21 run again over a schema they already changed (MySQL
// commits each change at once, so a run that stopped before recording them
// leaves their columns, indexes and tables behind) and leave it as one run.
func TestMigrations19To21RunAgain(t *testing.T) {
	for _, driver := range []string{"sqlite", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			db := emptyDB(t, driver)
			if err := store.MigrateTo(db, 21); err != nil {
				t.Fatal(err)
			}
			for _, v := range []int{19, 20, 21} {
				if err := store.ForgetMigration(db, v); err != nil {
					t.Fatal(err)
				}
			}
			if err := store.MigrateTo(db, 21); err != nil {
				t.Fatalf("re-run of 19–21 over their own changes: %v", err)
			}
			checks := []struct {
				table, index string
			}{
				{"status_entries", "idx_status_entries_import_doc"}, {"persons", "idx_persons_doc_no"},
				{"offline_serials", "idx_offline_serials_seq"}, {"offline_serials", "idx_offline_serials_updated"},
			}
			for _, c := range checks {
				if !db.Migrator().HasIndex(c.table, c.index) {
					t.Errorf("%s.%s missing after the re-run", c.table, c.index)
				}
			}
			if !db.Migrator().HasColumn("import_jobs", "cursor_doc") || !db.Migrator().HasColumn("offline_serials", "seq") || !db.Migrator().HasTable("disability_register") {
				t.Error("a column or table of 19–20 missing after the re-run")
			}
			if v, err := store.SchemaVersion(context.Background(), db); err != nil || v != 21 {
				t.Errorf("schema version %d, %v after the re-run", v, err)
			}
		})
	}
}

// Migration 25 keys deputyships by person: each account's goes to the
// person it holds (one holding nobody gave nobody anything), and the
// migration runs again over its own work.
func TestMigration25RecordsTheDeputysPerson(t *testing.T) {
	for _, driver := range []string{"sqlite", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			db := emptyDB(t, driver)
			if err := store.MigrateTo(db, 24); err != nil {
				t.Fatal(err)
			}
			s := store.NewStore(db, storetest.Vault(t), &setClock{now: purgeNow}, shanghai)
			ctx := context.Background()
			p, err := s.EnsurePerson(ctx, "欧阳娜娜", mustParse(t, "resident_id", "11010519491231002X"))
			if err != nil {
				t.Fatal(err)
			}
			bound, err := s.UpsertAccount(ctx, "sandbox", "deputy", "")
			if err != nil {
				t.Fatal(err)
			}
			db.Model(&models.Account{}).Where("id = ?", bound.ID).Update("person_id", p.ID)
			nobody, err := s.UpsertAccount(ctx, "sandbox", "nobody", "")
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range []string{bound.ID, nobody.ID} {
				if err := db.Exec("INSERT INTO venue_deputies (venue_id, account_id, added_by, added_at) VALUES ('v1', ?, 'r', ?)", a, purgeNow).Error; err != nil {
					t.Fatal(err)
				}
			}
			check := func(when string) {
				t.Helper()
				var rows []models.VenueDeputy
				if err := db.Find(&rows).Error; err != nil {
					t.Fatal(err)
				}
				if len(rows) != 1 || rows[0].VenueID != "v1" || rows[0].PersonNo != p.No || rows[0].AddedBy != "r" {
					t.Errorf("%s: deputies %+v, want v1 given to person %d", when, rows, p.No)
				}
			}
			if err := store.MigrateTo(db, 25); err != nil {
				t.Fatal(err)
			}
			check("after migration 25")
			if err := store.ForgetMigration(db, 25); err != nil {
				t.Fatal(err)
			}
			if err := store.MigrateTo(db, 25); err != nil {
				t.Fatalf("migration 25 again: %v", err)
			}
			check("after it ran again")
			if !db.Migrator().HasIndex("venues", "idx_venues_registrar_person") || !db.Migrator().HasIndex("venue_deputies", "idx_venue_deputies_person") {
				t.Error("no index of venues by registrar person, or of deputyships by person")
			}
		})
	}
}
