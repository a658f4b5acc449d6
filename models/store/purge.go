package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/codetoken"
)

// MinAuditRetention is the shortest time audit rows are kept, whatever the
// configuration says: 180 days.
const MinAuditRetention = 180 * 24 * time.Hour

// RevocationMargin is how long a session revocation is kept beyond the
// session lifetime: a day, for clocks that disagree and for a lifetime
// lowered while older tokens still live.
const RevocationMargin = 24 * time.Hour

// Defaults of a purge run's pacing.
const (
	DefaultPurgeBatch    = 1000
	DefaultPurgePause    = 50 * time.Millisecond
	DefaultPurgeDeadline = 10 * time.Second
)

// purgeLock names the MySQL lock that lets one node purge at a time. Named
// locks are server-wide, so the name carries the database's: two services
// sharing a server do not wait for each other (a lock name is at most 64
// characters, hence the hash).
const purgeLock = "CONCAT('healthcode_purge:', MD5(DATABASE()))"

// RetentionPolicy says how long each kind of record is kept and how a purge
// run paces itself.
type RetentionPolicy struct {
	// Scans is how long verification records are kept after the scan; face
	// verifications are kept as long after they started (and at least
	// until they expired).
	Scans time.Duration
	// Tickets is how long a page ticket is kept after it expired (tickets
	// live a minute, so spent ones go as long after they were used).
	Tickets time.Duration
	// CheckIns is how long venue check-ins are kept after the scan.
	CheckIns time.Duration
	// Samples is how long a sampling tube and the registrations in it are
	// kept after the tube was opened (the lab's result reaches the people
	// in it long before; their latest result stays with their status).
	Samples time.Duration
	// Audit is how long audit rows are kept; never less than
	// MinAuditRetention.
	Audit time.Duration
	// SessionTTL is the login token lifetime: a logout's revocation is
	// kept that long plus RevocationMargin, after which every token it
	// ended has expired anyway.
	SessionTTL time.Duration

	// BatchSize is the most rows one statement deletes (0: DefaultPurgeBatch).
	BatchSize int
	// Pause is the wait between batches, which lets the hot paths' writes
	// in between (0: none).
	Pause time.Duration
	// Deadline bounds each statement (0: DefaultPurgeDeadline).
	Deadline time.Duration
}

// PurgeReport says what a purge run removed.
type PurgeReport struct {
	// Skipped is true when another node held the purge lock, so this run
	// removed nothing.
	Skipped bool
	// Tables lists, in a fixed order, each table's cut-off and the rows
	// removed from it.
	Tables []PurgedTable
}

// PurgedTable is what a purge run removed from one table.
type PurgedTable struct {
	Table string
	// Before is the cut-off: rows whose time (see Rule) lies before it
	// were removed.
	Before time.Time
	// Rule says which time the cut-off applies to, in words.
	Rule    string
	Removed int64
}

// Removed returns the rows removed from every table together.
func (r PurgeReport) Removed() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Removed
	}
	return n
}

// String lists the counts as "table=n", in the report's order.
func (r PurgeReport) String() string {
	if r.Skipped {
		return "skipped: another node is purging"
	}
	parts := make([]string, len(r.Tables))
	for i, t := range r.Tables {
		parts[i] = fmt.Sprintf("%s=%d", t.Table, t.Removed)
	}
	return strings.Join(parts, " ")
}

// purgeTarget is one table's retention rule.
type purgeTarget struct {
	table string
	// column is the time the retention counts from.
	column string
	rule   string
	before time.Time
	// also narrows the rows further (a face verification must also have
	// expired); its one argument, if any, follows the cut-off.
	also    string
	alsoArg any
	// byID: the table has no index on column, but its id rises with time,
	// so the oldest rows are the first ids.
	byID bool
	// textID: the id is a string, not a number.
	textID bool
	// idColumn names the primary key when it is not "id".
	idColumn string
	// children is a table whose rows belong to one row of this one (by
	// childKey, the row's key) and go with it, deleted first; perParent
	// is the most a row has, so a batch of parents removes at most about
	// BatchSize rows of children.
	children, childKey string
	perParent          int
	// childRule is the children's rule in the report.
	childRule string
}

// key is the table's primary key column.
func (t purgeTarget) key() string {
	if t.idColumn != "" {
		return t.idColumn
	}
	return "id"
}

// StatusLogRetention is how long status changes stay in the log.
const StatusLogRetention = 7 * 24 * time.Hour

// purgeTargets lists what expires at now under p, in the order purged.
func purgeTargets(p RetentionPolicy, now time.Time) []purgeTarget {
	now = now.UTC()
	return []purgeTarget{
		{table: "verifications", column: "checked_at", rule: "scanned", before: now.Add(-p.Scans), byID: true},
		{table: "h5_tickets", column: "expires_at", rule: "expired", before: now.Add(-p.Tickets), textID: true},
		{table: "face_verifications", column: "created_at", rule: "started", before: now.Add(-p.Scans),
			also: "expires_at < ?", alsoArg: now, textID: true},
		{table: "session_revocations", column: "created_at", rule: "logged out", before: now.Add(-(p.SessionTTL + RevocationMargin))},
		// Status changes: a node cold-starts from person_status and follows
		// the log from there, and a running one polls it every 2 s, so a
		// week of log is more than any node can need.
		{table: "status_changes", column: "at", rule: "applied", before: now.Add(-StatusLogRetention), idColumn: "seq"},
		// A claim no account still holds (proven, or replaced by another)
		// goes with its face verifications; it holds a sealed name and
		// document, so it is kept no longer than they are.
		{table: "identity_claims", column: "created_at", rule: "superseded", before: now.Add(-p.Scans),
			also: "NOT EXISTS (SELECT 1 FROM accounts WHERE accounts.claim_id = identity_claims.id)", textID: true},
		// Check-ins are keyed by time (NewVisit): by id, as scans.
		{table: "check_ins", column: "checked_in_at", rule: "checked in", before: now.Add(-p.CheckIns), byID: true, textID: true},
		// A sampling tube goes with the registrations in it, counted from
		// when it was opened (its samples were taken since).
		{table: "sampling_tubes", column: "opened_at", rule: "opened", before: now.Add(-p.Samples), textID: true, idColumn: "tube",
			children: "samples", childKey: "tube", perParent: models.MaxTubeMode, childRule: "in a tube opened"},
		// Offline codes: a paper past its 180 days fails as expired, and its
		// revocation tells an offline scanner nothing it would not see. A
		// person's serial row goes once it was last written (an issue, a
		// loss) 180 days ago, so their last paper has expired too; their
		// codes then follow, and a later issue starts again at serial 1.
		{table: "offline_serials", column: "updated_at", rule: "expired", before: now.Add(-codetoken.OfflineLifetime),
			textID: true, idColumn: "person_id"},
		{table: "offline_codes", column: "expires_at", rule: "expired", before: now, textID: true,
			also: "NOT EXISTS (SELECT 1 FROM offline_serials WHERE offline_serials.code_id = offline_codes.id)"},
		{table: "offline_revocations", column: "revoked_at", rule: "outlived", before: now.Add(-codetoken.OfflineLifetime), idColumn: "seq"},
		// A relative link that ended (deleted, unbound, rejected) is kept
		// as long as the audit rows that name it, then goes: the account,
		// the person and the relation are no longer in use.
		{table: "relatives", column: "updated_at", rule: "ended", before: now.Add(-p.Audit), textID: true,
			also: "status IN ('" + models.LinkDeleted + "', '" + models.LinkRejected + "')"},
		// An ended (or rejected) venue goes as long after its end as the
		// audit rows that name it (and never before its check-ins), its
		// deputyships with it. Its posters verify venue_unknown from then on.
		{table: "venues", column: "ended_at", rule: "ended", before: now.Add(-max(p.Audit, p.CheckIns)), textID: true,
			children: "venue_deputies", childKey: "venue_id", perParent: models.MaxVenueDeputies, childRule: "of a venue ended"},
		{table: "audit_log", column: "at", rule: "recorded", before: now.Add(-p.Audit)},
	}
}

// Purge deletes the records that have outlived their retention under p, as
// of the store's clock: scans, page tickets, face verifications, session
// revocations, venue check-ins, sampling tubes with their registrations and
// audit rows. It deletes in batches of p.BatchSize rows by
// primary key, each batch one short statement of its own, pausing p.Pause
// between them, so the hot paths' writes never wait behind it for long.
// Every statement has p.Deadline.
//
// On MySQL one node purges at a time: a run that finds the named lock
// taken returns at once with Skipped set. SQLite has one process per file
// and takes no lock (two runs at once only share the work). Every run that
// was not skipped is audited, as actor "system:purge" with its counts (and
// the error, if it stopped part way).
//
// A policy keeping audit rows less than MinAuditRetention, or with a
// retention that is not positive, is refused before anything is deleted.
// A database error ends the run; the report then holds what was removed
// before it.
func (s *Store) Purge(ctx context.Context, p RetentionPolicy) (PurgeReport, error) {
	if p.Audit < MinAuditRetention {
		return PurgeReport{}, fmt.Errorf("purge: audit rows are kept at least %v, not %v", MinAuditRetention, p.Audit)
	}
	if p.Scans <= 0 || p.Tickets <= 0 || p.SessionTTL <= 0 || p.CheckIns <= 0 || p.Samples <= 0 {
		return PurgeReport{}, errors.New("purge: every retention must be positive")
	}
	if p.BatchSize <= 0 {
		p.BatchSize = DefaultPurgeBatch
	}
	if p.Deadline <= 0 {
		p.Deadline = DefaultPurgeDeadline
	}
	var report PurgeReport
	// One pinned connection: on MySQL the lock belongs to it, and every
	// statement of the run goes through it, so a pool of one cannot
	// deadlock against the run's own lock. Waiting for it is bounded too.
	acquire, cancel := context.WithTimeout(ctx, p.Deadline)
	defer cancel()
	err := s.db.WithContext(acquire).Connection(func(conn *gorm.DB) error {
		conn = conn.Session(&gorm.Session{})
		if conn.Dialector.Name() == "mysql" {
			got, err := takePurgeLock(ctx, conn, p.Deadline)
			if err != nil {
				return err
			}
			if !got {
				report.Skipped = true
				return nil
			}
			defer releasePurgeLock(conn, p.Deadline)
		}
		now := s.clock.Now()
		runErr := s.purgeAll(ctx, conn, p, now, &report)
		detail := report.String()
		if runErr != nil {
			detail += " (stopped: " + runErr.Error() + ")"
		}
		auditCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.Deadline)
		defer cancel()
		err := conn.WithContext(auditCtx).Create(&models.AuditEntry{At: now.UTC(), Actor: "system:purge", Action: "retention.purge",
			Subject: "retention", Detail: truncate(detail, 1024)}).Error
		if err != nil && runErr == nil {
			runErr = fmt.Errorf("audit the purge: %w", err)
		}
		return runErr
	})
	return report, err
}

// takePurgeLock tries the named lock once, without waiting.
func takePurgeLock(ctx context.Context, conn *gorm.DB, deadline time.Duration) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var got *int
	if err := conn.WithContext(ctx).Raw("SELECT GET_LOCK(" + purgeLock + ", 0)").Scan(&got).Error; err != nil {
		return false, fmt.Errorf("purge: take the lock: %w", err)
	}
	return got != nil && *got == 1, nil
}

// releasePurgeLock gives the lock back, even when the run's context has
// ended. Should it fail, the lock goes with the connection.
func releasePurgeLock(conn *gorm.DB, deadline time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	conn.WithContext(ctx).Exec("SELECT RELEASE_LOCK(" + purgeLock + ")")
}

// purgeAll runs every target in turn, adding each to report as it goes.
func (s *Store) purgeAll(ctx context.Context, conn *gorm.DB, p RetentionPolicy, now time.Time, report *PurgeReport) error {
	for _, t := range purgeTargets(p, now) {
		// A table's children are reported first, as they are deleted.
		if t.children != "" {
			report.Tables = append(report.Tables, PurgedTable{Table: t.children, Before: t.before, Rule: t.childRule})
		}
		report.Tables = append(report.Tables, PurgedTable{Table: t.table, Before: t.before, Rule: t.rule})
		removed, children := &report.Tables[len(report.Tables)-1].Removed, (*int64)(nil)
		if t.children != "" {
			children = &report.Tables[len(report.Tables)-2].Removed
		}
		if err := purgeTable(ctx, conn, t, p, removed, children); err != nil {
			return fmt.Errorf("purge %s: %w", t.table, err)
		}
	}
	return nil
}

// purgeTable deletes t's expired rows batch by batch until none is left,
// counting them into removed (and their children into children) as each
// batch commits.
func purgeTable(ctx context.Context, conn *gorm.DB, t purgeTarget, p RetentionPolicy, removed, children *int64) error {
	var from purgeCursor
	batch := p.BatchSize
	if t.perParent > 1 {
		batch = max(1, batch/t.perParent)
	}
	for {
		var ids []any
		var more bool
		err := withDeadline(ctx, p.Deadline, func(ctx context.Context) (err error) {
			ids, from, more, err = nextBatch(ctx, conn, t, from, batch)
			return err
		})
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			err = withDeadline(ctx, p.Deadline, func(ctx context.Context) error {
				if t.children != "" {
					return deleteWithChildren(ctx, conn, t, ids, removed, children)
				}
				// Exact ids lock only their own rows; the cut-off again, so
				// no row newer than it is ever deleted.
				res := conn.WithContext(ctx).Exec("DELETE FROM "+t.table+" WHERE "+t.key()+" IN ? AND "+t.column+" < ?", ids, t.before)
				*removed += res.RowsAffected
				return res.Error
			})
			if err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
		if err := pause(ctx, p.Pause); err != nil {
			return err
		}
	}
}

// deleteWithChildren deletes the rows of ids still due and their children
// in one transaction, the rows locked first (a registration locks its tube
// too): no child lands in a row between the two deletes, and a run stopped
// between them leaves both. The counts are added once it committed.
func deleteWithChildren(ctx context.Context, conn *gorm.DB, t purgeTarget, ids []any, removed, children *int64) error {
	var n, c int64
	err := conn.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var due []string
		if err := tx.Clauses(lockForUpdate).Table(t.table).Where(t.key()+" IN ? AND "+t.column+" < ?", ids, t.before).
			Pluck(t.key(), &due).Error; err != nil || len(due) == 0 {
			return err
		}
		res := tx.Exec("DELETE FROM "+t.children+" WHERE "+t.childKey+" IN ?", due)
		if res.Error != nil {
			return res.Error
		}
		c = res.RowsAffected
		res = tx.Exec("DELETE FROM "+t.table+" WHERE "+t.key()+" IN ?", due)
		n = res.RowsAffected
		return res.Error
	})
	if err == nil {
		*children += c
		*removed += n
	}
	return err
}

// purgeCursor is where the next batch of a table starts, so no batch reads
// again past what an earlier one removed (InnoDB keeps deleted entries in
// its indexes a while; reading from the start each time would wade through
// them).
type purgeCursor struct {
	id     uint64    // byID: the last id read
	textID string    // byID with textID: the last id read
	at     time.Time // otherwise: the latest time read (rows at it may remain)
}

// query selects the next n candidate rows of t from c, with their id and
// time (as "at"): by primary key when t.byID, else through the index on
// t.column, expired rows only. Either is a bounded range read.
func (t purgeTarget) query(db *gorm.DB, c purgeCursor, n int) *gorm.DB {
	q := db.Table(t.table).Select(t.key() + " AS id, " + t.column + " AS at")
	switch {
	case t.byID && t.textID:
		return q.Where(t.key()+" > ?", c.textID).Order(t.key()).Limit(n)
	case t.byID:
		return q.Where(t.key()+" > ?", c.id).Order(t.key()).Limit(n)
	}
	q = q.Where(t.column+" < ?", t.before)
	if !c.at.IsZero() {
		q = q.Where(t.column+" >= ?", c.at)
	}
	switch {
	case t.also != "" && t.alsoArg != nil:
		q = q.Where(t.also, t.alsoArg)
	case t.also != "":
		q = q.Where(t.also)
	}
	return q.Order(t.column).Limit(n)
}

// nextBatch reads the next n candidate rows of t from c and returns the ids
// of those due, where the batch after starts, and whether to read on.
//
// By id (scans): ids rise with time, so once a batch ends with a row that
// is not due, the rest are newer too; a row out of order (written from a
// clock that ran ahead) is kept without holding back the rows around it.
// By time: the query reads due rows only, so every batch removes all it
// read, and a short batch is the last.
func nextBatch(ctx context.Context, conn *gorm.DB, t purgeTarget, c purgeCursor, n int) (ids []any, next purgeCursor, more bool, err error) {
	var rows []struct {
		ID string // numbers scan as text too
		At time.Time
	}
	if err := t.query(conn.WithContext(ctx), c, n).Scan(&rows).Error; err != nil {
		return nil, c, false, err
	}
	if len(rows) == 0 {
		return nil, c, false, nil
	}
	for _, r := range rows {
		if !r.At.Before(t.before) {
			continue
		}
		if t.textID {
			ids = append(ids, r.ID)
			continue
		}
		id, err := strconv.ParseUint(r.ID, 10, 64)
		if err != nil {
			return nil, c, false, fmt.Errorf("id %q: %w", r.ID, err)
		}
		ids = append(ids, id)
	}
	end := rows[len(rows)-1]
	if t.byID {
		if t.textID {
			next.textID = end.ID
		} else {
			next.id, err = strconv.ParseUint(end.ID, 10, 64)
		}
		return ids, next, err == nil && len(rows) == n && end.At.Before(t.before), err
	}
	next.at = end.At
	return ids, next, len(rows) == n, nil
}

// withDeadline runs fn under ctx bounded by d.
func withDeadline(ctx context.Context, d time.Duration, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return fn(ctx)
}

// pause waits d, or less if ctx ends first (then it returns ctx's error).
func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
