package store_test

import (
	"fmt"
	"testing"

	"healthcode/models/store"
	"healthcode/models/storetest"
)

// On MariaDB each batch is found through an index range, never a scan of
// the table: with every row of each table past its retention, EXPLAIN
// shows a range read of the expected key.
func TestPurgeSelectsReadAnIndexRange(t *testing.T) {
	db := storetest.Open(t, "mysql")
	const n = 3000
	old := purgeNow.Add(-400 * day)
	// MariaDB's seq_1_to_N tables make the rows in one statement each.
	fill := []struct {
		sql   string
		times int // how many times the row's time is bound
	}{
		{"INSERT INTO verifications (verifier_account_id, holder_handle, result, reason, colour, kind, place, code_id, checked_at) SELECT 'v', CONCAT('h', seq), 'valid', '', 'green', 'personal', 'gate', 'c', ? FROM seq_1_to_%d", 1},
		{"INSERT INTO h5_tickets (id, account_id, purpose, relative_id, expires_at, created_at) SELECT CONCAT('t', seq), 'a', 'code', '', ?, ? FROM seq_1_to_%d", 2},
		{"INSERT INTO face_verifications (id, verify_id, provider, account_id, person_id, status, detail, expires_at, created_at) SELECT CONCAT('f', seq), CONCAT('v', seq), 'sandbox', 'a', 'p', 'passed', '', ?, ? FROM seq_1_to_%d", 2},
		{"INSERT INTO session_revocations (account_id, version, created_at) SELECT 'a', seq, ? FROM seq_1_to_%d", 1},
		{"INSERT INTO check_ins (id, visit_id, venue_id, account_id, person_id, person_no, masked_name, masked_doc, colour, checked_in_at) SELECT LPAD(seq, 28, '0'), LPAD(seq, 26, '0'), 'v', 'a', 'p', seq, '张*', '11**2X', 'green', ? FROM seq_1_to_%d", 1},
		{"INSERT INTO sampling_tubes (tube, mode, site, sampler_account_id, count, state, short, opened_at, result) SELECT CONCAT('T-', LPAD(seq, 8, '0')), 20, 's', 'a', 0, 'open', 0, ?, '' FROM seq_1_to_%d", 1},
		{"INSERT INTO audit_log (at, actor, action, subject, detail, request_id) SELECT ?, 'system', 'x', '', '', '' FROM seq_1_to_%d", 1},
		{"INSERT INTO relatives (id, account_id, person_id, relation, status, evidence, decided_by, note, created_at, updated_at) SELECT CONCAT('r', seq), 'a', 'p', 'parent', 'deleted', '', '', '', ?, ? FROM seq_1_to_%d", 2},
		{"INSERT INTO venues (id, registrar_account_id, registrar_person_no, name, address, district, kind, credit_code, state, generation, code_issued_at, rev, review_note, decided_by, created_at, ended_at) SELECT CONCAT('v', seq), 'a', seq, 'n', 'a', '310101', 'shop', 'c', 'ended', 1, ?, 0, '', '', ?, ? FROM seq_1_to_%d", 3},
	}
	for _, f := range fill {
		args := []any{old}
		for range f.times - 1 {
			args = append(args, old)
		}
		if err := db.Exec(fmt.Sprintf(f.sql, n), args...).Error; err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{"verifications": "PRIMARY", "h5_tickets": "idx_h5_tickets_expires_at",
		"face_verifications": "idx_face_verifications_created_at", "session_revocations": "idx_session_revocations_created_at",
		"audit_log": "idx_audit_log_at", "check_ins": "PRIMARY", "sampling_tubes": "idx_sampling_tubes_opened", "relatives": "idx_relatives_updated", "venues": "idx_venues_ended"}
	selects := store.PurgeSelects(db, defaultPolicy(), purgeNow, store.DefaultPurgeBatch)
	for table, key := range want {
		db.Exec("ANALYZE TABLE " + table)
		for _, sql := range selects[table] {
			var plan []struct {
				Type string `gorm:"column:type"`
				Key  *string
			}
			if err := db.Raw("EXPLAIN " + sql).Scan(&plan).Error; err != nil {
				t.Fatalf("EXPLAIN %s: %v", sql, err)
			}
			if len(plan) != 1 || plan[0].Type != "range" || plan[0].Key == nil || *plan[0].Key != key {
				t.Errorf("%s: %s\nplan %+v, want a range read of %s", table, sql, plan, key)
			}
		}
	}
}
