package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/document"
)

// Purposes the store seals person fields for (models' purposePersonName and
// purposePersonDoc): the generated seals open as the store's own.
const (
	purposeName = "person.name"
	purposeDoc  = "person.doc"
)

// cdcReasons are the reasons on the disease-control list.
var cdcReasons = []string{"密切接触者", "次密切接触者", "阳性感染者", "高风险区旅居", "同时空伴随"}

// baseImport is the id of the disease-control list in force from the start.
const baseImport = "citysimcdcbase"

// generator writes the city straight into the database in multi-row
// inserts, as createPerson and the lab's results would have left it: a
// person_numbers row and a persons row per person, numbered densely; most
// people's latest nucleic-acid result, a negative of the last three days
// (nucleic_results); one in a hundred red on the disease-control list in
// force (status_entries, status_sources); and each person's current status
// as those give it (person_status). The change log is empty, as after a
// purge of old changes.
type generator struct {
	db    *gorm.DB
	vault *models.Vault
	now   time.Time
	mysql bool
	batch int
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// personID returns a 26-character opaque id of the store's form whose first
// four bytes are the person's number, so bulk inserts append to the
// primary key rather than land all over it (the rest is random).
func personID(no uint32) string {
	b := make([]byte, 16)
	rand.Read(b[4:])
	binary.BigEndian.PutUint32(b, no)
	return idEncoding.EncodeToString(b)
}

// generate adds persons from+1 … to, with two writers, each on its own
// connection.
func (g *generator) generate(ctx context.Context, from, to uint32, progress func(done uint32)) error {
	sqlDB, err := g.db.DB()
	if err != nil {
		return err
	}
	const writers = 2
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		done  uint32
		first error
	)
	chunk := (to - from + writers - 1) / writers
	for w := range uint32(writers) {
		lo, hi := from+w*chunk, min(to, from+(w+1)*chunk)
		if lo >= hi {
			continue
		}
		wg.Go(func() {
			err := g.write(ctx, sqlDB, lo, hi, func(n uint32) {
				mu.Lock()
				done += n
				d := done
				mu.Unlock()
				progress(d)
			})
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// write inserts persons lo+1 … hi in batches on one connection.
func (g *generator) write(ctx context.Context, sqlDB *sql.DB, lo, hi uint32, progress func(uint32)) error {
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if g.mysql {
		// The documents are distinct by construction, so their hashes are:
		// InnoDB may then buffer the unique index's changes.
		if _, err := conn.ExecContext(ctx, "SET SESSION unique_checks = 0"); err != nil {
			return err
		}
		defer conn.ExecContext(context.Background(), "SET SESSION unique_checks = 1")
	}
	for start := lo; start < hi; start += uint32(g.batch) {
		end := min(hi, start+uint32(g.batch))
		if err := g.writeBatch(ctx, conn, start+1, end); err != nil {
			return fmt.Errorf("persons %d…%d: %w", start+1, end, err)
		}
		progress(end - start)
	}
	return nil
}

var personColumns = []string{"id", "no", "doc_type", "doc_hash", "name_sealed", "doc_sealed", "masked_name", "masked_doc",
	"birth_date", "created_at", "updated_at"}

// writeBatch inserts persons first … last with their numbers and statuses,
// each table in one statement (short: a few thousand rows).
func (g *generator) writeBatch(ctx context.Context, conn *sql.Conn, first, last uint32) error {
	n := int(last - first + 1)
	numbers := make([]any, 0, n)
	persons := make([]any, 0, n*len(personColumns))
	statuses := make([]any, 0, n*8)
	results := make([]any, 0, n*5)
	var entries []any
	for no := first; no <= last; no++ {
		number, name := registeredDoc(no), personName(no)
		doc := document.Document{Type: document.ResidentID, Number: number}
		hash := g.vault.DocumentHash(doc)
		birth := number[6:10] + "-" + number[10:12] + "-" + number[12:14]
		numbers = append(numbers, no)
		persons = append(persons, personID(no), no, string(document.ResidentID), hash,
			g.vault.Seal(name, purposeName), g.vault.Seal(number, purposeDoc), document.MaskName(name), document.MaskNumber(number),
			birth, g.now, g.now)
		colour, source, reason := models.Green, "", ""
		if no%100 == 0 {
			colour, source, reason = models.Red, models.SourceCDC, cdcReasons[no/100%uint32(len(cdcReasons))]
			entries = append(entries, source, hash, string(colour), reason, baseImport)
		}
		if no%50 == 7 {
			// No sample yet: a red person has a status row, a green one
			// none, as the store keeps them.
			if colour != models.Green {
				statuses = append(statuses, no, string(colour), source, reason, "", nil, nil, 0)
			}
			continue
		}
		// A negative result of the last three days, from a mixed tube of
		// ten, tested five hours after sampling.
		sampled := g.now.Add(-6*time.Hour - time.Duration(no%4320)*time.Minute)
		tested := sampled.Add(5 * time.Hour)
		results = append(results, no, models.NucleicNegative, fmt.Sprintf("CS%010d", no/10), sampled, tested)
		statuses = append(statuses, no, string(colour), source, reason, models.NucleicNegative, sampled, tested, 0)
	}
	inserts := []struct {
		table   string
		columns []string
		args    []any
	}{
		{"person_numbers", []string{"no"}, numbers},
		{"persons", personColumns, persons},
		{"person_status", []string{"person_no", "colour", "source", "reason", "nucleic_result", "sampled_at", "tested_at", "seq"}, statuses},
		{"nucleic_results", []string{"person_no", "result", "tube", "sampled_at", "tested_at"}, results},
		{"status_entries", []string{"source", "doc_hash", "colour", "reason", "import_id"}, entries},
	}
	for _, ins := range inserts {
		if err := insertRows(ctx, conn, ins.table, ins.columns, ins.args); err != nil {
			return err
		}
	}
	return nil
}

// insertRows runs one multi-row INSERT of args (len(columns) a row).
func insertRows(ctx context.Context, conn interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, table string, columns []string, args []any) error {
	if len(args) == 0 {
		return nil
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", len(columns)), ",") + ")"
	rows := len(args) / len(columns)
	var q strings.Builder
	q.Grow(len(table) + 64 + rows*(len(row)+1))
	// Backquotes quote names on MySQL and SQLite alike (status_imports has
	// a column named rows).
	q.WriteString("INSERT INTO `" + table + "` (`" + strings.Join(columns, "`, `") + "`) VALUES ")
	for i := range rows {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString(row)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

// seedLists puts the disease-control list in force (its registered people's
// rows are written with them) and adds its unregistered people: one for
// every 200 registered.
func (g *generator) seedLists(ctx context.Context, registered uint32) error {
	sqlDB, err := g.db.DB()
	if err != nil {
		return err
	}
	unregistered := uint64(registered / 200)
	for start := uint64(0); start < unregistered; start += uint64(g.batch) {
		var args []any
		for j := start; j < min(unregistered, start+uint64(g.batch)); j++ {
			hash := g.vault.DocumentHash(document.Document{Type: document.ResidentID, Number: unregisteredDoc(j)})
			args = append(args, models.SourceCDC, hash, string(models.Red), cdcReasons[j%uint64(len(cdcReasons))], baseImport)
		}
		if err := insertRows(ctx, sqlDB, "status_entries", []string{"source", "doc_hash", "colour", "reason", "import_id"}, args); err != nil {
			return err
		}
	}
	rows := int(registered/100) + int(unregistered)
	if err := insertRows(ctx, sqlDB, "status_sources", []string{"source", "import_id", "updated_at"},
		[]any{models.SourceCDC, baseImport, g.now}); err != nil {
		return err
	}
	return insertRows(ctx, sqlDB, "status_imports", []string{"id", "source", "rows", "actor", "created_at"},
		[]any{baseImport, models.SourceCDC, rows, "citysim", g.now})
}
