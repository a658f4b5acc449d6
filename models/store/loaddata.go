package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"healthcode/models"
)

// stageBatch is how many rows of an import one staging statement writes: on
// MySQL a LOAD DATA stream (about half a MB, well within the query
// timeout on a loaded machine; the server parses no SQL per row), on
// SQLite a short transaction (see importBatch).
func (s *Store) stageBatch() int {
	if s.db.Dialector.Name() == "mysql" {
		return 5000
	}
	return s.importBatch()
}

// loadDataRefused reports whether err is the server refusing LOAD DATA
// LOCAL (MySQL 8 ships with local_infile off): the rows are then written
// by multi-row inserts instead.
func loadDataRefused(err error) bool {
	var e *mysqldriver.MySQLError
	if !errors.As(err, &e) {
		return false
	}
	switch e.Number {
	case 1148, // ER_NOT_ALLOWED_COMMAND: MariaDB and older MySQL with local_infile off
		3948: // ER_CLIENT_LOCAL_FILES_DISABLED: MySQL 8 with local_infile off
		return true
	}
	return false
}

// loadStreams names the LOAD DATA streams handed to the MySQL driver.
var loadStreams atomic.Uint64

// loadData writes rows into table's columns with one LOAD DATA LOCAL
// INFILE statement, from a tab-separated stream the driver reads from
// memory (the server reads no file; no path is ever named). A column named
// in hexColumns is sent in hex and stored as bytes. Each value must already
// be valid UTF-8; tabs, newlines and backslashes in it are escaped. A
// time is sent in UTC, a nil *time.Time as NULL.
func loadData(ctx context.Context, db *gormDB, table string, columns []string, hexColumns map[string]bool, rows [][]any) error {
	var buf bytes.Buffer
	for _, row := range rows {
		for i, v := range row {
			if i > 0 {
				buf.WriteByte('\t')
			}
			switch v := v.(type) {
			case []byte:
				buf.WriteString(hex.EncodeToString(v))
			case string:
				writeLoadField(&buf, v)
			case models.Colour:
				writeLoadField(&buf, string(v))
			case time.Time:
				buf.WriteString(v.UTC().Format(loadTimeLayout))
			case *time.Time:
				if v == nil {
					buf.WriteString(`\N`)
				} else {
					buf.WriteString(v.UTC().Format(loadTimeLayout))
				}
			default:
				fmt.Fprint(&buf, v)
			}
		}
		buf.WriteByte('\n')
	}
	name := fmt.Sprintf("healthcode-load-%d", loadStreams.Add(1))
	data := buf.Bytes()
	mysqldriver.RegisterReaderHandler(name, func() io.Reader { return bytes.NewReader(data) })
	defer mysqldriver.DeregisterReaderHandler(name)
	targets := make([]string, len(columns))
	var sets []string
	for i, c := range columns {
		targets[i] = "`" + c + "`"
		if hexColumns[c] {
			targets[i] = "@" + c
			sets = append(sets, fmt.Sprintf("`%s` = UNHEX(@%s)", c, c))
		}
	}
	q := fmt.Sprintf("LOAD DATA LOCAL INFILE 'Reader::%s' INTO TABLE `%s` CHARACTER SET utf8mb4 "+
		`FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n' (%s)`, name, table, strings.Join(targets, ", "))
	if len(sets) > 0 {
		q += " SET " + strings.Join(sets, ", ")
	}
	res := db.WithContext(ctx).Exec(q)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != int64(len(rows)) {
		return fmt.Errorf("load into %s: %d of %d rows written", table, res.RowsAffected, len(rows))
	}
	return nil
}

// loadTimeLayout is how loadData sends a time: in UTC, as the store's
// connections read and write DATETIME (db.go), to the microsecond as the
// driver sends an INSERT's, so the server cuts or rounds both to the
// column's millisecond by one rule.
const loadTimeLayout = "2006-01-02 15:04:05.000000"

// writeLoadField writes s as one LOAD DATA field: backslash, tab, newline,
// carriage return and NUL escaped.
func writeLoadField(buf *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			buf.WriteString(`\\`)
		case '\t':
			buf.WriteString(`\t`)
		case '\n':
			buf.WriteString(`\n`)
		case '\r':
			buf.WriteString(`\r`)
		case 0:
			buf.WriteString(`\0`)
		default:
			buf.WriteByte(c)
		}
	}
}
