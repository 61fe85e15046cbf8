package store

import (
	"context"
	"time"
)

// JobLease is a named lease shared by every replica: one holder at a time
// for a periodic job (retention, a daily reconciliation, a certificate
// refresh). Its expiry is on the database's clock, so replicas whose own
// clocks disagree still agree on who holds it.
type JobLease struct {
	Name      string `gorm:"primaryKey;size:128"`
	Holder    string `gorm:"size:64;not null"`
	UntilMS   int64  `gorm:"not null"` // Unix milliseconds on the database's clock
	UpdatedAt time.Time
}

// dbNowMS is the database's own clock in Unix milliseconds, as SQL.
func (s *Store) dbNowMS() string { return nowMS(s.driver) }

// DBNow reads the database's clock (millisecond precision).
func (s *Store) DBNow(ctx context.Context) (time.Time, error) {
	var ms int64
	// A read: on SQLite the reader pool, not the one writer connection.
	if err := s.r.WithContext(ctx).Raw("SELECT " + s.dbNowMS()).Scan(&ms).Error; err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms).UTC(), nil
}

// AcquireJobLease takes or renews the lease name for holder for ttl: it
// succeeds when nobody holds it, holder already does, or the last holder's
// lease has run out. One statement, so two replicas racing cannot both win.
func (s *Store) AcquireJobLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	return writeValue(s, ctx, func(s *Store) (bool, error) {
		now := s.dbNowMS()
		res := s.w.WithContext(ctx).Exec(
			"INSERT INTO job_leases (name, holder, until_ms, updated_at) VALUES (?, ?, "+now+" + ?, ?) "+
				"ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms, updated_at = excluded.updated_at "+
				"WHERE job_leases.holder = excluded.holder OR job_leases.until_ms < "+now,
			name, holder, ttl.Milliseconds(), s.Now())
		if res.Error != nil {
			return false, res.Error
		}
		return res.RowsAffected == 1, nil
	})
}

// ReleaseJobLease gives the lease up if holder still holds it.
func (s *Store) ReleaseJobLease(ctx context.Context, name, holder string) error {
	return s.write(ctx, func(s *Store) error {
		return s.w.WithContext(ctx).Exec("UPDATE job_leases SET until_ms = 0 WHERE name = ? AND holder = ?", name, holder).Error
	})
}
