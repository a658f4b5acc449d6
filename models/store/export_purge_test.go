package store

import (
	"time"

	"gorm.io/gorm"
)

// PurgeSelects returns, by table, the statements with which a purge run
// selects its first batch and a later one, for tests to EXPLAIN.
func PurgeSelects(db *gorm.DB, p RetentionPolicy, now time.Time, batch int) map[string][]string {
	out := map[string][]string{}
	for _, t := range purgeTargets(p, now) {
		for _, c := range []purgeCursor{{}, {id: 1000, at: t.before.Add(-time.Hour)}} {
			out[t.table] = append(out[t.table], db.ToSQL(func(tx *gorm.DB) *gorm.DB {
				var rows []map[string]any
				return t.query(tx, c, batch).Find(&rows)
			}))
		}
	}
	return out
}
