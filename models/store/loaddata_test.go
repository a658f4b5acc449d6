package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

// LOAD DATA carries every byte a list's reason may hold (tabs, newlines,
// backslashes, quotes, Chinese, the escape sequences' own letters) and binary
// hashes unchanged, and says so when the server wrote fewer rows.
func TestLoadDataKeepsEveryByte(t *testing.T) {
	db := storetest.Open(t, "mysql")
	if err := db.Exec("CREATE TABLE load_probe (id INT AUTO_INCREMENT PRIMARY KEY, h VARBINARY(32) NOT NULL, txt VARCHAR(256) NOT NULL, n INT NOT NULL)").Error; err != nil {
		t.Fatal(err)
	}
	texts := []string{"密切接触者", "tab\there", "line\nbreak\r\n", `back\slash\`, `\N`, `\t literally`, "quote ' and \"", "", "NUL\x00inside"}
	var rows [][]any
	for i, txt := range texts {
		rows = append(rows, []any{[]byte{byte(i), 0, '\t', '\n', '\\', 0xff}, txt, i})
	}
	if err := store.LoadData(context.Background(), db, "load_probe", []string{"h", "txt", "n"}, map[string]bool{"h": true}, rows); err != nil {
		t.Fatal(err)
	}
	var got []struct {
		H   []byte
		Txt string
		N   int
	}
	if err := db.Raw("SELECT h, txt, n FROM load_probe ORDER BY id").Scan(&got).Error; err != nil {
		t.Fatal(err)
	}
	if len(got) != len(texts) {
		t.Fatalf("%d rows back, want %d", len(got), len(texts))
	}
	for i, g := range got {
		want := rows[i]
		if string(g.H) != string(want[0].([]byte)) || g.Txt != want[1] || g.N != want[2] {
			t.Errorf("row %d: got %q %q %d, want %q %q %d", i, g.H, g.Txt, g.N, want[0], want[1], want[2])
		}
	}
	// A row the server skips (a duplicate key under IGNORE would; here a
	// primary key given twice) is an error, not a silent loss.
	if err := db.Exec("CREATE TABLE load_unique (k INT PRIMARY KEY)").Error; err != nil {
		t.Fatal(err)
	}
	if err := store.LoadData(context.Background(), db, "load_unique", []string{"k"}, nil, [][]any{{1}, {1}}); err == nil {
		t.Error("two rows with one key loaded without an error")
	}
}

// The servers that refuse LOAD DATA LOCAL are recognised, so the import
// falls back to inserts there; other errors are not taken for a refusal.
func TestLoadDataRefusalIsRecognised(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&mysqldriver.MySQLError{Number: 1148, Message: "The used command is not allowed with this MariaDB version"}, true},
		{fmt.Errorf("stage: %w", &mysqldriver.MySQLError{Number: 3948, Message: "Loading local data is disabled"}), true},
		{&mysqldriver.MySQLError{Number: 1062, Message: "Duplicate entry"}, false},
		{errors.New("connection refused"), false},
		{nil, false},
	} {
		if got := store.LoadDataRefused(c.err); got != c.want {
			t.Errorf("LoadDataRefused(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// A batch of changes large enough to go as LOAD DATA on MySQL is logged
// and kept exactly as a small one is inserted: the same sequences, colours,
// reasons (tabs and all), results, NULL and non-NULL times to the
// millisecond, and the same current statuses, which a later batch replaces;
// nodes read it back alike.
func TestLargeAppendLogsWhatASmallOneDoes(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		sampled := time.Date(2026, 11, 30, 8, 15, 30, 123_000_000, time.UTC)
		tested := sampled.Add(7*time.Hour + 250*time.Millisecond)
		statuses := func(from, n int) []models.PersonStatus {
			var out []models.PersonStatus
			for i := from; i < from+n; i++ {
				st := models.PersonStatus{PersonNo: uint32(1000 + i), Colour: models.Yellow, Source: models.SourceCommunity, Reason: fmt.Sprintf("密接\t第%d行\\", i)}
				if i%3 != 0 {
					sa, ta := sampled.Add(time.Duration(i)*time.Minute), tested.Add(time.Duration(i)*time.Minute)
					st.NucleicResult, st.SampledAt, st.TestedAt = models.NucleicNegative, &sa, &ta
				}
				out = append(out, st)
			}
			return out
		}
		small, large := statuses(0, store.LoadDataFrom-1), statuses(store.LoadDataFrom, store.LoadDataFrom+50)
		for _, batch := range [][]models.PersonStatus{small, large} {
			if err := store.AppendStatuses(ctx, s, batch); err != nil {
				t.Fatal(err)
			}
		}
		var changes []models.StatusChange
		if err := db.Order("seq").Find(&changes).Error; err != nil {
			t.Fatal(err)
		}
		want := append(append([]models.PersonStatus{}, small...), large...)
		if len(changes) != len(want) {
			t.Fatalf("%d changes logged, want %d", len(changes), len(want))
		}
		sameTime := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
		for i, c := range changes {
			w := want[i]
			if c.Seq != uint64(i+1) || c.PersonNo != w.PersonNo || c.Colour != w.Colour || c.Source != w.Source || c.Reason != w.Reason ||
				c.NucleicResult != w.NucleicResult || !sameTime(c.SampledAt, w.SampledAt) || !sameTime(c.TestedAt, w.TestedAt) || c.At.IsZero() {
				t.Fatalf("change %d: %+v, want %+v", i, c, w)
			}
		}
		// The same people again, red now: their current rows are replaced,
		// not added to, and a node starting cold reads the new ones.
		again := statuses(store.LoadDataFrom, store.LoadDataFrom+50)
		for i := range again {
			again[i].Colour, again[i].Reason = models.Red, "复核"
		}
		if err := store.AppendStatuses(ctx, s, again); err != nil {
			t.Fatal(err)
		}
		var held int64
		db.Model(&models.PersonStatus{}).Count(&held)
		if held != int64(len(want)) {
			t.Errorf("%d current statuses for %d people", held, len(want))
		}
		want = append(append([]models.PersonStatus{}, small...), again...)
		book := models.NewStatusBook()
		if err := s.RefreshStatus(ctx, book); err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			got := book.Of(w.PersonNo)
			if got.Colour != w.Colour || got.Reason != w.Reason || got.Nucleic.Result != w.NucleicResult ||
				(w.SampledAt != nil && !got.Nucleic.SampledAt.Equal(w.SampledAt.Truncate(time.Minute))) { // the book keeps minutes
				t.Fatalf("person %d in the book: %+v, want %+v", w.PersonNo, got, w)
			}
		}
	})
}

// A test time with more digits than the columns keep (a lab file's RFC 3339
// time may carry them) is logged as the current status keeps it, whichever
// way the batch goes: a node following the log and one starting cold from
// person_status must hold the same time.
func TestLoadedLogKeepsTimesAsTheStatusDoes(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		base := time.Date(2026, 11, 30, 8, 15, 30, 999_600_000, time.UTC) // .9996 s
		var batch []models.PersonStatus
		for i := range store.LoadDataFrom + 20 {
			sampled, tested := base.Add(time.Duration(i)*time.Minute), base.Add(time.Duration(i)*time.Minute+5*time.Hour)
			batch = append(batch, models.PersonStatus{PersonNo: uint32(1 + i), Colour: models.Green,
				NucleicResult: models.NucleicNegative, SampledAt: &sampled, TestedAt: &tested})
		}
		if err := store.AppendStatuses(ctx, s, batch); err != nil {
			t.Fatal(err)
		}
		var held []models.PersonStatus
		var logged []models.StatusChange
		db.Order("person_no").Find(&held)
		db.Order("person_no").Find(&logged)
		if len(held) != len(batch) || len(logged) != len(batch) {
			t.Fatalf("%d statuses and %d changes for %d people", len(held), len(logged), len(batch))
		}
		for i := range held {
			if !held[i].TestedAt.Equal(*logged[i].TestedAt) || !held[i].SampledAt.Equal(*logged[i].SampledAt) {
				t.Fatalf("person %d: held tested %v sampled %v, logged tested %v sampled %v", held[i].PersonNo,
					held[i].TestedAt, held[i].SampledAt, logged[i].TestedAt, logged[i].SampledAt)
			}
		}
	})
}
