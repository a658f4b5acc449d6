package store

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"healthcode/models"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// dataVersion is a counter nodes poll to learn that reference data changed.
type dataVersion struct {
	Name      string `gorm:"primaryKey;size:32"`
	Version   int64
	UpdatedAt time.Time
}

func (dataVersion) TableName() string { return "data_versions" }

// statusLogLock names the data_versions row that writers of the status
// change log lock, so sequence order is commit order.
const statusLogLock = "status_log"

// statusChangeBatch is how many changes a node reads per query.
const statusChangeBatch = 20000

// RefreshStatus brings the book up to date: the first time it loads every
// person's status (in key ranges, inside one read transaction, so the book
// matches one sequence); after that it applies the changes logged since the
// last sequence it holds. No change makes a node reload the whole book.
func (s *Store) RefreshStatus(ctx context.Context, b *models.StatusBook) error {
	if !b.Loaded() {
		return s.loadStatus(ctx, b)
	}
	for {
		var rows []models.StatusChange
		err := s.db.WithContext(ctx).Where("seq > ?", b.Seq()).Order("seq").Limit(statusChangeBatch).Find(&rows).Error
		if err != nil {
			return fmt.Errorf("read status changes: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		changes := make([]models.PersonStatus, len(rows))
		for i, r := range rows {
			changes[i] = models.PersonStatus{PersonNo: r.PersonNo, Colour: r.Colour, Source: r.Source, Reason: r.Reason,
				NucleicResult: r.NucleicResult, SampledAt: r.SampledAt, TestedAt: r.TestedAt, Seq: r.Seq}
		}
		b.Update(changes, rows[len(rows)-1].Seq)
		if len(rows) < statusChangeBatch {
			return nil
		}
	}
}

// statusLoadBatch is how many people a cold load reads per query.
const statusLoadBatch = 50000

// loadStatus loads every person's status into an empty snapshot and
// publishes it once complete.
func (s *Store) loadStatus(ctx context.Context, b *models.StatusBook) error {
	w := b.Writer(true)
	defer w.Close()
	var seq uint64
	// One snapshot of everyone, read in many queries: bulk.
	err := s.db.WithContext(withBulkTransaction(ctx)).Transaction(func(tx *gormDB) error {
		if err := tx.Model(&models.StatusChange{}).Select("COALESCE(MAX(seq), 0)").Scan(&seq).Error; err != nil {
			return err
		}
		var after uint32
		for {
			var rows []models.PersonStatus
			if err := tx.Where("person_no > ?", after).Order("person_no").Limit(statusLoadBatch).Find(&rows).Error; err != nil {
				return err
			}
			w.Set(rows)
			if len(rows) < statusLoadBatch {
				return nil
			}
			after = rows[len(rows)-1].PersonNo
		}
	})
	if err != nil {
		return fmt.Errorf("load status book: %w", err)
	}
	w.Publish(seq)
	return nil
}

// readVersion returns the named counter, 0 when it was never bumped.
func readVersion(tx *gormDB, name string) (int64, error) {
	var v dataVersion
	err := tx.Where("name = ?", name).Limit(1).Find(&v).Error
	if err != nil {
		return 0, fmt.Errorf("read %s version: %w", name, err)
	}
	return v.Version, nil
}

// bumpVersion increments the named counter inside tx.
func bumpVersion(tx *gormDB, name string, now time.Time) error {
	return tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.Assignments(map[string]any{"version": gorm.Expr("data_versions.version + 1"), "updated_at": now}),
	}).Create(&dataVersion{Name: name, Version: 1, UpdatedAt: now}).Error
}

// statusLog writes the status change log inside one transaction. It holds
// the log's lock row until the transaction ends — shared while it only
// reads the lists, exclusive from its first append — and hands out the
// sequence numbers from that row, so sequences rise in commit order on any
// store (TiDB's AUTO_INCREMENT values need not) and a node that read up to
// a sequence never misses an earlier one.
type statusLog struct {
	tx        *gormDB
	now       time.Time
	exclusive bool
	seq       uint64 // the last sequence handed out
	appended  bool
	// noLoadData is the store's, set once the server refused LOAD DATA;
	// nil for a writer that never appends many.
	noLoadData *atomic.Bool
}

// openStatusLog takes the log's lock in tx: exclusive for a writer that will
// append (an import's batch, its switch), shared for one that may
// (registering a person, who is usually on no list, so registrations do not
// queue behind each other). Call close before the transaction commits.
//
// Large appends go as LOAD DATA on MySQL unless noLoadData is nil or set
// (the store's flag: the server refused it once).
func openStatusLog(tx *gormDB, now time.Time, exclusive bool, noLoadData *atomic.Bool) (*statusLog, error) {
	l := &statusLog{tx: tx, now: now, noLoadData: noLoadData}
	if exclusive {
		return l, l.lockExclusive()
	}
	if tx.Dialector.Name() == "mysql" {
		var v int64
		if err := tx.Raw("SELECT version FROM data_versions WHERE name = ? LOCK IN SHARE MODE", statusLogLock).Scan(&v).Error; err != nil {
			return nil, fmt.Errorf("take the status log lock: %w", err)
		}
	}
	return l, nil
}

// lockExclusive takes (or upgrades to) the exclusive lock and reads the
// last sequence handed out.
func (l *statusLog) lockExclusive() error {
	var v dataVersion
	if err := l.tx.Clauses(lockForUpdate).Take(&v, "name = ?", statusLogLock).Error; err != nil {
		return fmt.Errorf("take the status log lock: %w", err)
	}
	l.exclusive, l.seq = true, uint64(v.Version)
	return nil
}

// append logs people's new statuses, in order, and keeps them as their
// current ones.
func (l *statusLog) append(batch []models.PersonStatus) error {
	if len(batch) == 0 {
		return nil
	}
	if !l.exclusive {
		if err := l.lockExclusive(); err != nil {
			return err
		}
	}
	// One insert a table for the whole batch, with the sequences set here.
	changes := make([]models.StatusChange, len(batch))
	for i := range batch {
		l.seq++
		ps := &batch[i]
		ps.Seq = l.seq
		changes[i] = models.StatusChange{Seq: l.seq, PersonNo: ps.PersonNo, Colour: ps.Colour, Source: ps.Source, Reason: ps.Reason,
			NucleicResult: ps.NucleicResult, SampledAt: ps.SampledAt, TestedAt: ps.TestedAt, At: l.now}
	}
	if err := l.logChanges(changes); err != nil {
		return err
	}
	l.appended = true
	// The current statuses stay one upsert: as LOAD DATA … REPLACE they
	// took as long (scripts/citysim, 900,000 of them: 38 s either way).
	return l.tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&batch).Error
}

// loadsData reports whether n rows go to the log's tables as LOAD DATA.
func (l *statusLog) loadsData(n int) bool {
	return n >= loadDataFrom && l.noLoadData != nil && l.tx.Dialector.Name() == "mysql" && !l.noLoadData.Load()
}

// loadDataFrom is the smallest batch of changes logChanges sends as LOAD
// DATA: below it a multi-row insert costs less than the stream's set-up.
const loadDataFrom = 100

// logChanges appends changes to the log: a large batch on MySQL as one LOAD
// DATA stream (an import logs up to a million), otherwise as one insert.
func (l *statusLog) logChanges(changes []models.StatusChange) error {
	if l.loadsData(len(changes)) {
		values := make([][]any, len(changes))
		for i, c := range changes {
			values[i] = []any{c.Seq, c.PersonNo, c.Colour, c.Source, c.Reason, c.NucleicResult, c.SampledAt, c.TestedAt, c.At}
		}
		err := loadData(l.tx.Statement.Context, l.tx, "status_changes",
			[]string{"seq", "person_no", "colour", "source", "reason", "nucleic_result", "sampled_at", "tested_at", "at"}, nil, values)
		if !loadDataRefused(err) {
			return err
		}
		l.noLoadData.Store(true)
	}
	return l.tx.Create(&changes).Error
}

// close records the last sequence handed out.
func (l *statusLog) close() error {
	if !l.appended {
		return nil
	}
	return l.tx.Model(&dataVersion{}).Where("name = ?", statusLogLock).
		Updates(map[string]any{"version": l.seq, "updated_at": l.now}).Error
}

// listedPerson is a registered person as status changes find them; Entry
// is their entry on the list being walked, when the caller has it.
type listedPerson struct {
	No      uint32
	DocHash []byte
	Entry   *models.StatusEntry `gorm:"-"` // not a relation: people are scanned into this type
}

// syncBatch is how many people syncStatuses reads and writes per statement.
const syncBatch = 500

// syncStatuses recomputes the status of people from the lists in force and
// their latest nucleic-acid result, and logs a change for each whose status
// moved.
//
// Colours combine as the worst of all sources: each list in force gives a
// colour per document (status_entries), and the lab gives one per person
// (red for a positive single tube, yellow for a positive mixed tube, none
// for a negative). Between lists of one colour the first source of
// models.StatusSources stands; the lists stand before the lab. A person's
// latest result is kept whatever the colour: it is read from the status
// the person holds, which every lab result written to nucleic_results
// updates in the same transaction, here (lab holds the results that
// transaction has just written; nil elsewhere).
//
// walked names the list in force whose entries the people carry (an
// import's walk of its own list): it is not read again.
func syncStatuses(log *statusLog, people []listedPerson, lab map[uint32]models.NucleicResult, walked string) error {
	tx := log.tx
	// Only the lists in force count: an import's rows are written beside
	// its source's list before the switch puts them in force. They are
	// named in the query (a subquery made MariaDB and SQLite walk every
	// entry of those lists for every batch: scripts/citysim, an 80,000-row
	// import of 200,000 people took 35.6 s instead of 12.1 s).
	var inForce, ids []string
	if err := tx.Model(&models.StatusSource{}).Pluck("import_id", &inForce).Error; err != nil {
		return err
	}
	// The walked list counts only while it is in force: a run that lost its
	// job and woke after the next list's switch must not bring it back.
	walkedInForce := walked != "" && slices.Contains(inForce, walked)
	for _, id := range inForce {
		if !walkedInForce || id != walked {
			ids = append(ids, id)
		}
	}
	done := make(map[uint32]bool, len(people))
	for start := 0; start < len(people); start += syncBatch {
		batch := people[start:min(start+syncBatch, len(people))]
		hashes := make([][]byte, len(batch))
		nos := make([]uint32, len(batch))
		for i, p := range batch {
			hashes[i], nos[i] = p.DocHash, p.No
		}
		var entries []models.StatusEntry
		if len(ids) > 0 {
			err := tx.Table("status_entries "+useIndex(tx, "idx_status_entries_import_doc")).Select("doc_hash, colour, source, reason").
				Where("import_id IN ? AND doc_hash IN ?", ids, hashes).Find(&entries).Error
			if err != nil {
				return err
			}
		}
		worst := map[string]models.StatusEntry{}
		for _, p := range batch {
			if p.Entry == nil || !walkedInForce {
				continue
			}
			// A list staged row by row (before the sorter) has a document
			// on several rows: the worse stands.
			if cur, ok := worst[string(p.DocHash)]; !ok || worseEntry(*p.Entry, cur) {
				worst[string(p.DocHash)] = *p.Entry
			}
		}
		for _, e := range entries {
			if cur, ok := worst[string(e.DocHash)]; !ok || worseEntry(e, cur) {
				worst[string(e.DocHash)] = e
			}
		}
		var current []models.PersonStatus
		if err := tx.Where("person_no IN ?", nos).Find(&current).Error; err != nil {
			return err
		}
		held := map[uint32]models.PersonStatus{}
		for _, c := range current {
			held[c.PersonNo] = c
		}
		var moved []models.PersonStatus
		for _, p := range batch {
			if done[p.No] {
				continue // met twice (on the old list and the new): one change is enough
			}
			done[p.No] = true
			e, listed := worst[string(p.DocHash)]
			cur, known := held[p.No]
			next := models.PersonStatus{PersonNo: p.No, Colour: models.Green}
			if listed && e.Colour != models.Green {
				next.Colour, next.Source, next.Reason = e.Colour, e.Source, e.Reason
			}
			if r, ok := lab[p.No]; ok {
				sampled, tested := r.SampledAt, r.TestedAt
				next.NucleicResult, next.SampledAt, next.TestedAt = r.Result, &sampled, &tested
			} else if known && cur.NucleicResult != "" {
				next.NucleicResult, next.SampledAt, next.TestedAt = cur.NucleicResult, cur.SampledAt, cur.TestedAt
			}
			if next.NucleicResult != "" {
				if c, reason := (models.NucleicResult{Result: next.NucleicResult}).Colour(); c.Worse(next.Colour) {
					next.Colour, next.Source, next.Reason = c, models.SourceNucleicAcid, reason
				}
			}
			if known && sameStatus(cur, next) {
				continue
			}
			if !known && next.Colour == models.Green && next.NucleicResult == "" {
				continue
			}
			moved = append(moved, next)
		}
		if err := log.append(moved); err != nil {
			return err
		}
	}
	return nil
}

// worseEntry reports whether list entry a stands before b: a worse colour,
// or the same from a source earlier in models.StatusSources.
func worseEntry(a, b models.StatusEntry) bool {
	if a.Colour != b.Colour {
		return a.Colour.Worse(b.Colour)
	}
	return slices.Index(models.StatusSources, a.Source) < slices.Index(models.StatusSources, b.Source)
}

// sameStatus reports whether two statuses say the same.
func sameStatus(a, b models.PersonStatus) bool {
	return a.Colour == b.Colour && a.Source == b.Source && a.Reason == b.Reason && a.NucleicResult == b.NucleicResult &&
		sameTime(a.SampledAt, b.SampledAt) && sameTime(a.TestedAt, b.TestedAt)
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}
