package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"

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
