package store_test

import (
	"context"
	"database/sql"
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

// capturedQuery is a statement as the database received it.
type capturedQuery struct {
	sql  string
	vars []any
}

// captureStatements records the statements db runs whose SQL contains
// match (queries and inserts).
func captureStatements(t *testing.T, db *gorm.DB, match string) func() []capturedQuery {
	t.Helper()
	var (
		mu  sync.Mutex
		got []capturedQuery
	)
	capture := func(tx *gorm.DB) {
		if sql := tx.Statement.SQL.String(); strings.Contains(sql, match) {
			mu.Lock()
			got = append(got, capturedQuery{sql: sql, vars: append([]any(nil), tx.Statement.Vars...)})
			mu.Unlock()
		}
	}
	name := "test:capture_" + strings.NewReplacer(" ", "_", "`", "").Replace(match)
	db.Callback().Query().After("gorm:query").Register(name, capture)
	db.Callback().Create().After("gorm:create").Register(name, capture)
	db.Callback().Row().After("gorm:row").Register(name, capture)
	db.Callback().Raw().After("gorm:raw").Register(name, capture)
	return func() []capturedQuery { mu.Lock(); defer mu.Unlock(); return append([]capturedQuery(nil), got...) }
}

// An import's status sync costs a few statements a batch of people, not two
// for each person whose status moves, and it finds a batch's entries on the
// other lists in force through their (import, document) index: it never
// walks every entry of those lists (with 20,000 of them, MariaDB did, for
// every 500 people, when the query named the lists by a subquery), and the
// new list's entries come with its walk, not read again. The change log's
// sequences still match each person's current status.
func TestImportSyncIsBatchedAndIndexed(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		const people, unregistered = 600, 20000
		var cdc, community strings.Builder
		nos := make([]uint32, people)
		birth := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range people {
			number := withCheck(fmt.Sprintf("310115%s%03d", birth.AddDate(0, 0, i/10).Format("20060102"), i%10))
			p, err := s.EnsurePerson(ctx, "测试", mustParse(t, "resident_id", number))
			if err != nil {
				t.Fatal(err)
			}
			nos[i] = p.No
			fmt.Fprintf(&community, "resident_id,%s,yellow,居家\n", number)
		}
		for i := range unregistered {
			number := withCheck(fmt.Sprintf("320102%s%03d", birth.AddDate(0, 0, i/100).Format("20060102"), i%100))
			fmt.Fprintf(&cdc, "resident_id,%s,red,密接\n", number)
		}
		if err := importCSV(t, s, models.SourceCDC, cdc.String()); err != nil {
			t.Fatal(err)
		}
		inserts := captureStatements(t, db, "INSERT INTO `status_changes`")
		loads := captureStatements(t, db, "INTO TABLE `status_changes`") // LOAD DATA on MySQL
		changes := func() []capturedQuery { return append(inserts(), loads()...) }
		lookups := captureStatements(t, db, "WHERE import_id IN (")
		walks := captureStatements(t, db, "JOIN persons AS p")
		if err := importCSV(t, s, models.SourceCommunity, community.String()); err != nil {
			t.Fatal(err)
		}
		// Batches of 200 people on SQLite, 2000 on MySQL.
		if n := len(changes()); n == 0 || n > people/200 {
			t.Errorf("%d inserts into the change log for %d people who turned yellow, want one a batch of people", n, people)
		}
		if db.Dialector.Name() == "mysql" && len(loads()) == 0 {
			t.Error("the change log of an import was not sent as LOAD DATA on MySQL")
		}
		found := lookups()
		if len(found) == 0 {
			t.Fatal("no lookup of list entries by document seen")
		}
		var walkedList string
		db.Table("status_sources").Where("source = ?", models.SourceCommunity).Pluck("import_id", &walkedList)
		for _, q := range found {
			if walkedList == "" || strings.Contains(fmt.Sprint(q.vars), walkedList) {
				t.Fatalf("the sync read the entries of the list it walks again: %.80s…", q.sql)
			}
		}
		if read := rowsRead(t, db, found[0]); read > 4*500 {
			t.Errorf("looking up 500 people's list entries read %d rows, want about 500 (the plan walks the lists in force)", read)
		}
		// The list is walked in document order through indexes that answer
		// the join: a range of the import's entries, persons' (doc_hash, no).
		walked := walks()
		if len(walked) == 0 {
			t.Fatal("no walk of the new list's people seen")
		}
		plan := queryPlan(t, db, walked[len(walked)-1])
		wants := []string{"key=idx_status_entries_import_doc", "key=idx_persons_doc_no"}
		if db.Dialector.Name() != "mysql" {
			wants = []string{"INDEX idx_status_entries_import_doc", "COVERING INDEX idx_persons_doc_no"}
		}
		for _, want := range wants {
			if !strings.Contains(plan, want) {
				t.Errorf("the walk of an import's people does not use %s: %s", want, plan)
			}
		}
		if strings.Contains(plan, "filesort") || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("the walk of an import's people sorts its rows instead of reading them in index order: %s", plan)
		}
		// A resumed batch (on MySQL the 600 people fit one batch, so the run
		// above never sent one): the cursor form, halfway through each list in
		// force, through the same indexes and in index order.
		var lists []struct {
			ImportID string
			N        int
		}
		if err := db.Raw("SELECT import_id, COUNT(*) AS n FROM status_entries GROUP BY import_id").Scan(&lists).Error; err != nil || len(lists) != 2 {
			t.Fatalf("lists in force: %+v, %v", lists, err)
		}
		for _, l := range lists {
			var at struct {
				ID      uint64
				DocHash []byte
			}
			if err := db.Raw("SELECT id, doc_hash FROM status_entries WHERE import_id = ? ORDER BY doc_hash, id LIMIT 1 OFFSET ?", l.ImportID, l.N/2).Scan(&at).Error; err != nil {
				t.Fatal(err)
			}
			sql, vars := store.ImportWalkStatement(s, l.ImportID, at.DocHash, at.ID)
			if !strings.Contains(sql, "e.doc_hash > ? OR (e.doc_hash = ? AND e.id > ?)") {
				t.Fatalf("the resumed walk is not the cursor form: %s", sql)
			}
			plan := queryPlan(t, db, capturedQuery{sql: sql, vars: vars})
			for _, want := range wants {
				if !strings.Contains(plan, want) {
					t.Errorf("the resumed walk of %d entries does not use %s: %s", l.N, want, plan)
				}
			}
			if strings.Contains(plan, "filesort") || strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("the resumed walk of %d entries sorts its rows: %s", l.N, plan)
			}
			if db.Dialector.Name() == "mysql" && !strings.Contains(plan, "type=range") {
				t.Errorf("the resumed walk of %d entries does not read a range of the import's entries: %s", l.N, plan)
			}
			t.Logf("resumed walk of %d entries:\n%s", l.N, plan)
		}

		// Every person's status and the log agree, sequence for sequence.
		book := models.NewStatusBook()
		if err := s.RefreshStatus(ctx, book); err != nil {
			t.Fatal(err)
		}
		var rows []struct {
			PersonNo uint32
			Seq      uint64
			Colour   string
		}
		if err := db.Raw("SELECT s.person_no, s.seq, c.colour FROM person_status s JOIN status_changes c ON c.seq = s.seq AND c.person_no = s.person_no").
			Scan(&rows).Error; err != nil {
			t.Fatal(err)
		}
		if len(rows) != people {
			t.Errorf("%d people's status matches its change in the log, want %d", len(rows), people)
		}
		for _, no := range nos {
			if got := book.Of(no); got.Colour != models.Yellow || got.Source != models.SourceCommunity {
				t.Fatalf("person %d: %+v, want yellow from the community list", no, got)
			}
		}
	})
}

// rowsRead runs q again and says how many index and table rows the
// database read for it: Handler_read_* on MySQL; on SQLite, 0 when the plan
// searches by the document index and a large number when it scans.
// queryPlan is a captured statement's plan as the database explains it,
// one line a step.
func queryPlan(t *testing.T, db *gorm.DB, q capturedQuery) string {
	t.Helper()
	ctx := context.Background()
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	explain := "EXPLAIN QUERY PLAN "
	if db.Dialector.Name() == "mysql" {
		explain = "EXPLAIN "
	}
	rows, err := sqlDB.QueryContext(ctx, explain+q.sql, q.vars...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		cells := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range cells {
			ptrs[i] = &cells[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var step []string
		for i, c := range cells {
			step = append(step, cols[i]+"="+c.String)
		}
		plan = append(plan, strings.Join(step, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

func rowsRead(t *testing.T, db *gorm.DB, q capturedQuery) int64 {
	t.Helper()
	ctx := context.Background()
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	// database/sql takes the statement's arguments as they are (GORM's Raw
	// would spread a leading []byte into its bytes).
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if db.Dialector.Name() != "mysql" {
		rows, err := conn.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q.sql, q.vars...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		for _, step := range plan {
			if strings.Contains(step, "status_entries") && !strings.Contains(step, "idx_status_entries_import_doc") {
				t.Logf("plan: %q", plan)
				return 1 << 30
			}
		}
		return 0
	}
	counters := func() int64 {
		rows, err := conn.QueryContext(ctx, "SHOW SESSION STATUS LIKE 'Handler_read%'")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var sum int64
		for rows.Next() {
			var name string
			var value int64
			if err := rows.Scan(&name, &value); err != nil {
				t.Fatal(err)
			}
			sum += value
		}
		return sum
	}
	before := counters()
	rows, err := conn.QueryContext(ctx, q.sql, q.vars...)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	rows.Close()
	return counters() - before
}

// Two lists giving a person one colour: the first source of
// models.StatusSources stands, whichever list came first and whichever way
// the person's status was worked out (an import's walk of its own list, or
// the person registering after both).
func TestListsOfOneColourFavourTheFirstSource(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		early, late := withCheck("31011519800101201"), withCheck("31011519800101202")
		p, err := s.EnsurePerson(ctx, "测试", mustParse(t, "resident_id", early))
		if err != nil {
			t.Fatal(err)
		}
		list := "resident_id," + early + ",yellow,%s\nresident_id," + late + ",yellow,%s\n"
		if err := importCSV(t, s, models.SourceOperator, fmt.Sprintf(list, "人工", "人工")); err != nil {
			t.Fatal(err)
		}
		if err := importCSV(t, s, models.SourceCommunity, fmt.Sprintf(list, "社区", "社区")); err != nil {
			t.Fatal(err)
		}
		q, err := s.EnsurePerson(ctx, "测试", mustParse(t, "resident_id", late))
		if err != nil {
			t.Fatal(err)
		}
		book := models.NewStatusBook()
		if err := s.RefreshStatus(ctx, book); err != nil {
			t.Fatal(err)
		}
		for _, no := range []uint32{p.No, q.No} {
			if got := book.Of(no); got.Colour != models.Yellow || got.Source != models.SourceCommunity || got.Reason != "社区" {
				t.Errorf("person %d: %+v, want yellow from the community list", no, got)
			}
		}
		// The operator's list again: the walk of it changes nothing.
		if err := importCSV(t, s, models.SourceOperator, fmt.Sprintf(list, "人工", "人工")); err != nil {
			t.Fatal(err)
		}
		if err := s.RefreshStatus(ctx, book); err != nil {
			t.Fatal(err)
		}
		if got := book.Of(p.No); got.Source != models.SourceCommunity {
			t.Errorf("after the operator's list again: %+v", got)
		}
	})
}
