package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// DBTime is a lease expiry or a due time: an instant on the database's
// clock, stored as Unix milliseconds (BIGINT on both databases). Replicas
// whose own clocks disagree still agree on these, because every one of
// them is written and compared in SQL against the database's now (see
// dbNowMS), and an integer compares exactly on SQLite and PostgreSQL
// alike (SQLite keeps time.Time as text, which SQL-made times do not
// match character for character).
//
// A DBTime read from the database holds its instant. One made by DueIn
// is written as "the database's now + d"; one made by At is written as
// that instant (tests, and times that are not relative to now).
type DBTime struct {
	time.Time
	in       time.Duration
	relative bool
}

// DueIn is the database's now plus d, evaluated by the database when the
// row is written.
func DueIn(d time.Duration) DBTime { return DBTime{in: d, relative: true} }

// DueNow is the database's now.
func DueNow() DBTime { return DueIn(0) }

// At is the instant t.
func At(t time.Time) DBTime { return DBTime{Time: t.UTC()} }

// set reports whether t holds a time or a due-in.
func (t DBTime) set() bool { return t.relative || !t.IsZero() }

// GormDataType makes the column a BIGINT.
func (DBTime) GormDataType() string { return "bigint" }

// GormValue writes the instant, or the database's now + d for DueIn.
func (t DBTime) GormValue(_ context.Context, db *gorm.DB) clause.Expr {
	if t.relative {
		return clause.Expr{SQL: "(" + nowMS(db.Dialector.Name()) + " + ?)", Vars: []any{t.in.Milliseconds()}}
	}
	return clause.Expr{SQL: "?", Vars: []any{t.UnixMilli()}}
}

// Scan reads Unix milliseconds.
func (t *DBTime) Scan(v any) error {
	var ms int64
	switch x := v.(type) {
	case int64:
		ms = x
	case int32:
		ms = int64(x)
	case float64: // a SQLite expression without a CAST
		ms = int64(x)
	case nil:
		*t = DBTime{}
		return nil
	default:
		return fmt.Errorf("store: DBTime from %T", v)
	}
	*t = DBTime{Time: time.UnixMilli(ms).UTC()}
	return nil
}

// nowMS is the database's own clock in Unix milliseconds, as SQL, for a
// gorm dialector name ("sqlite" or "postgres"). On PostgreSQL it is the
// time the statement started: a stable value, so a due range compared
// with it is an index range (clock_timestamp() is volatile and would make
// every claim filter every pending row); SQLite's 'now' is one value per
// statement already.
func nowMS(driver string) string {
	if driver == "postgres" {
		return "CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000 AS BIGINT)"
	}
	return "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
}

// msOfTimestamp converts a timestamp column to Unix milliseconds in SQL
// (migrations from the timestamp columns of earlier versions).
func msOfTimestamp(driver, col string) string {
	if driver == "postgres" {
		return "CAST(EXTRACT(EPOCH FROM " + col + ") * 1000 AS BIGINT)"
	}
	return "CAST((julianday(" + col + ") - 2440587.5) * 86400000.0 AS INTEGER)"
}

// msColumns are the timestamp columns of earlier versions that became
// millisecond columns on the database's clock, with the indexes on them.
var msColumns = []struct {
	table, old, ms string
	oldIndexes     []string
}{
	{"orders", "next_poll_at", "next_poll_ms", []string{"idx_orders_next_poll_at"}},
	{"orders", "lease_until", "lease_until_ms", nil},
	{"refunds", "next_poll_at", "next_poll_ms", []string{"idx_refunds_next_poll_at"}},
	{"refunds", "lease_until", "lease_until_ms", nil},
	{"merchant_events", "next_try_at", "next_try_ms", []string{"ix_events_due", "idx_merchant_events_next_try_at"}},
	{"merchant_events", "lease_until", "lease_until_ms", nil},
}

// dropTimestampIndexes drops the indexes on the old timestamp columns
// before AutoMigrate runs: ix_events_due keeps its name on the new column.
func dropTimestampIndexes(tx *gorm.DB) error {
	m := tx.Migrator()
	for _, c := range msColumns {
		if !m.HasTable(c.table) || !m.HasColumn(c.table, c.old) {
			continue
		}
		for _, ix := range c.oldIndexes {
			if m.HasIndex(c.table, ix) {
				if err := m.DropIndex(c.table, ix); err != nil {
					return fmt.Errorf("drop index %s: %w", ix, err)
				}
			}
		}
	}
	return nil
}

// timestampsToMS moves the values of the old timestamp columns into their
// millisecond replacements (added by AutoMigrate) and drops the old ones.
func timestampsToMS(tx *gorm.DB, driver string) error {
	m := tx.Migrator()
	for _, c := range msColumns {
		if !m.HasColumn(c.table, c.old) {
			continue
		}
		if err := tx.Exec("UPDATE " + c.table + " SET " + c.ms + " = " + msOfTimestamp(driver, c.old) +
			" WHERE " + c.old + " IS NOT NULL").Error; err != nil {
			return fmt.Errorf("migrate %s.%s: %w", c.table, c.old, err)
		}
		// Plain ALTER TABLE on both (SQLite >= 3.35): gorm's SQLite
		// DropColumn copies the whole table.
		if err := tx.Exec("ALTER TABLE " + c.table + " DROP COLUMN " + c.old).Error; err != nil {
			return fmt.Errorf("drop %s.%s: %w", c.table, c.old, err)
		}
	}
	return nil
}
