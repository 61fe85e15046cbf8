// Package store keeps orders, refunds, the notification inbox and the
// merchant-event outbox in SQL through gorm: SQLite by default, PostgreSQL
// for several gateway replicas. Money is integer minor units; ids are
// assigned by the application (see NewID).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

var (
	ErrNotFound  = errors.New("not found")
	ErrDuplicate = errors.New("duplicate")
	// ErrConflict: a compare-and-set found the row changed since it was read.
	ErrConflict = errors.New("concurrent update")
)

// Store is the database. On SQLite, writes go through one connection (one
// writer at a time, no SQLITE_BUSY storms) and reads through a pool; on
// PostgreSQL both are the same pool.
type Store struct {
	w, r   *gorm.DB
	driver string
	now    func() time.Time
	// gc is SQLite's group commit: every write of the root store goes
	// through it (see write). Nil on PostgreSQL, which groups concurrent
	// commits itself, and in a transaction's view of the store.
	gc *groupCommit
	// pgb groups PostgreSQL's prepared order changes (see pgChangeBatch);
	// nil on SQLite and in a transaction's view.
	pgb *pgChangeBatch
	// pgr groups PostgreSQL's one-row reads (see pgReadBatch); nil on
	// SQLite and in a transaction's view.
	pgr *pgReadBatch
	// inTx: the store is the view of one transaction (InTx's fn).
	inTx bool
}

// Options tune Open.
type Options struct {
	MaxReadConns int
	// MaxOpenConns caps the PostgreSQL pool (default 20).
	MaxOpenConns int
	Now          func() time.Time
}

// Open connects and migrates.
func Open(driver, dsn string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxReadConns == 0 {
		opts.MaxReadConns = 8
	}
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = 20
	}
	gcfg := func(prepare bool) *gorm.Config {
		return &gorm.Config{
			Logger:                 logger.Discard,
			SkipDefaultTransaction: true,
			TranslateError:         true,
			// Statements prepared once per connection and reused (SQLite's
			// readers; the writer's are the group commit's, and pgx keeps
			// its own cache on PostgreSQL); the cache is bounded because IN
			// lists of different lengths are different statements.
			PrepareStmt:        prepare,
			PrepareStmtMaxSize: stmtCacheSize,
			NowFunc:            func() time.Time { return opts.Now().UTC() },
		}
	}
	s := &Store{driver: driver, now: opts.Now}
	switch driver {
	case "sqlite":
		if err := ensureDir(dsn); err != nil {
			return nil, err
		}
		w, err := openSQLite(sqliteDSN(dsn, false), gcfg(false))
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		wdb, _ := w.DB()
		// One connection is the group commit's for good; the other serves
		// the migration before it starts, and tests and tools (DB()).
		wdb.SetMaxOpenConns(2)
		wdb.SetConnMaxLifetime(0)
		// The readers open after the migration: a SQLite connection that
		// loaded the schema before a column was dropped expands SELECT *
		// to the old columns (the driver reads the names before SQLite
		// notices the change).
		s.w, s.r = w, w
		if err := s.Migrate(); err != nil {
			_ = s.Close()
			return nil, err
		}
		r, err := openSQLite(sqliteDSN(dsn, true), gcfg(true))
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("open sqlite reader: %w", err)
		}
		rdb, _ := r.DB()
		rdb.SetMaxOpenConns(opts.MaxReadConns)
		// Kept open, all of them: database/sql keeps two idle by default and
		// closes the rest as they come free, and a SQLite connection opened
		// again re-reads the schema and prepares its statements anew.
		rdb.SetMaxIdleConns(opts.MaxReadConns)
		s.r = r
		if s.gc, err = newGroupCommit(s.w, maxGroup); err != nil {
			_ = s.Close()
			return nil, err
		}
		return s, nil
	case "postgres":
		db, err := gorm.Open(postgres.Open(dsn), gcfg(false))
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sdb, _ := db.DB()
		sdb.SetMaxOpenConns(opts.MaxOpenConns)
		// Kept open, all of them: a connection closed when it comes free
		// above the idle cap is opened again moments later, and a new
		// PostgreSQL connection is a server process forked and
		// authenticated. Sixteen concurrent creates opened 650 of them a
		// run with half the pool idle, and each write took 5 ms.
		sdb.SetMaxIdleConns(opts.MaxOpenConns)
		// Writes run to their end whatever their callers' contexts say, as
		// they do in SQLite's group commit: a statement or COMMIT cut short
		// by a caller that went away leaves that caller not knowing whether
		// it happened. (Nor does each statement then cost a goroutine in
		// pgx and one in database/sql watching the context.) Reads stay
		// cancellable.
		w := db.Session(&gorm.Session{NewDB: true, Context: context.Background()})
		w.Statement.ConnPool = uncancelledPool{sdb}
		s.w, s.r = w, db
		s.pgb = newPGChangeBatch(s, sdb)
		s.pgr = newPGReadBatch(s, sdb)
	default:
		return nil, fmt.Errorf("unknown database driver %q", driver)
	}
	if err := s.Migrate(); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// openSQLite opens a SQLite file, retrying for a few seconds while another
// process holds it locked: switching a new file to WAL needs a moment
// without writers, which a second process starting next to a migrating
// one does not have.
func openSQLite(dsn string, cfg *gorm.Config) (*gorm.DB, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		db, err := gorm.Open(sqlite.Open(dsn), cfg)
		if err == nil || !strings.Contains(err.Error(), "database is locked") || time.Now().After(deadline) {
			return db, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ensureDir(dsn string) error {
	path := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path == "" || path == ":memory:" {
		return fmt.Errorf("sqlite: use a file (the writer and the readers share it), got %q", dsn)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("sqlite: create %s: %w", dir, err)
		}
	}
	return nil
}

// sqliteDSN adds WAL, a busy timeout, foreign keys, full sync and
// immediate write transactions to a file path.
func sqliteDSN(dsn string, readOnly bool) string {
	if !strings.HasPrefix(dsn, "file:") {
		dsn = "file:" + dsn
	}
	params := []string{"_journal_mode=WAL", "_busy_timeout=10000", "_foreign_keys=on", "_synchronous=FULL"}
	if readOnly {
		params = append(params, "_query_only=1")
	} else {
		params = append(params, "_txlock=immediate")
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + strings.Join(params, "&")
}

// eventsFillFactor is how full (%) inserts make a merchant_events page on
// PostgreSQL. A claim writes only the event's lease, no indexed column:
// with room left on the page PostgreSQL keeps the new row version there (a
// HOT update) and none of the event's five indexes gets an entry; with
// full pages (the default) every claimed event got one in each.
// Measured (pg_stat_statements over 10,000 notifications, two pairs):
// the claims' WAL records halved, their time -40%, all the dispatcher's
// statements -20%. The price: new events fill half a page.
const eventsFillFactor = 50

// dropFullEventsDueIndex drops ix_events_due as earlier versions made it,
// on (status, next_try_ms) over every event, so that AutoMigrate makes it
// again over the pending events only.
func dropFullEventsDueIndex(tx *gorm.DB, driver string) error {
	q := "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'ix_events_due'"
	if driver == "postgres" {
		q = "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'ix_events_due'"
	}
	var defs []string
	if err := tx.Raw(q).Scan(&defs).Error; err != nil {
		return fmt.Errorf("ix_events_due: %w", err)
	}
	if len(defs) == 0 || strings.Contains(strings.ToUpper(defs[0]), " WHERE ") {
		return nil
	}
	if err := tx.Exec("DROP INDEX ix_events_due").Error; err != nil {
		return fmt.Errorf("drop the full ix_events_due: %w", err)
	}
	return nil
}

// setEventsFillFactor sets eventsFillFactor on merchant_events unless
// set; rows written before keep their pages until updated.
func setEventsFillFactor(tx *gorm.DB) error {
	want := "fillfactor=" + strconv.Itoa(eventsFillFactor)
	var opts []string
	if err := tx.Raw("SELECT unnest(reloptions) FROM pg_class WHERE oid = 'merchant_events'::regclass").Scan(&opts).Error; err != nil {
		return fmt.Errorf("merchant_events options: %w", err)
	}
	if slices.Contains(opts, want) {
		return nil
	}
	if err := tx.Exec("ALTER TABLE merchant_events SET (" + want + ")").Error; err != nil {
		return fmt.Errorf("merchant_events fillfactor: %w", err)
	}
	return nil
}

// migrateLock is the PostgreSQL advisory lock key that serialises the
// migrations of replicas starting together ("paygate" in ASCII).
const migrateLock = 0x70617967617465

// Migrate creates or updates the tables and indexes, in one transaction:
// replicas starting at the same moment migrate one after the other (a
// transaction-scoped advisory lock on PostgreSQL; SQLite's write lock,
// taken at BEGIN IMMEDIATE), and the later ones find nothing to do.
func (s *Store) Migrate() error {
	err := s.w.Transaction(func(tx *gorm.DB) error {
		if s.driver == "postgres" {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrateLock).Error; err != nil {
				return err
			}
		}
		if err := dropTimestampIndexes(tx); err != nil {
			return err
		}
		if err := dropFullEventsDueIndex(tx, s.driver); err != nil {
			return err
		}
		// Events written before events were numbered get their numbers once.
		numberOld := tx.Migrator().HasTable(&MerchantEvent{}) && !tx.Migrator().HasColumn(&MerchantEvent{}, "sequence")
		if err := tx.AutoMigrate(&Merchant{}, &Channel{}, &Order{}, &Refund{}, &Notification{}, &MerchantEvent{}, &EventAttempt{}, &JobLease{}, &ProviderCertificate{}); err != nil {
			return err
		}
		if err := timestampsToMS(tx, s.driver); err != nil {
			return err
		}
		if numberOld {
			if err := numberEvents(tx); err != nil {
				return err
			}
		}
		if err := tx.AutoMigrate(reconModels...); err != nil {
			return err
		}
		if err := migrateRecon(tx); err != nil {
			return err
		}
		// Indexes replaced or found unused (AutoMigrate only adds);
		// TestIndexCensus keeps the list of those left honest.
		m := tx.Migrator()
		for _, old := range []struct {
			model any
			name  string
		}{
			{&Order{}, "ix_orders_merchant_created"}, {&MerchantEvent{}, "idx_merchant_events_next_try_at"},
			{&Order{}, "idx_orders_status"}, {&Order{}, "ix_orders_created"}, {&Order{}, "ix_orders_due"},
			{&Refund{}, "idx_refunds_status"}, {&Refund{}, "ix_refunds_due"},
			{&Notification{}, "idx_notifications_order_id"}, {&Notification{}, "idx_notifications_outcome"},
			{&Notification{}, "ix_notifications_channel_pid"}, {&MerchantEvent{}, "ix_events_pending"},
			{&Channel{}, "idx_channels_merchant_id"},
			// One index on (provider_trade_no, channel_id) does the work of
			// these two, with one index write less on every paid order.
			{&Order{}, "ux_orders_channel_ptn"}, {&Order{}, "ix_orders_ptn"}, {&Order{}, "ux_orders_ptn_channel"},
			// Replaced by partial indexes of the orders that have the value.
			{&Order{}, "ux_orders_transaction_id"}, {&Order{}, "ix_orders_channel_paid"},
			// An order's events are found by ux_events_order_sequence.
			{&MerchantEvent{}, "idx_merchant_events_order_id"},
			// The inbox's ids begin with the time received (NotificationID).
			{&Notification{}, "ix_notifications_received"},
		} {
			if m.HasIndex(old.model, old.name) {
				if err := m.DropIndex(old.model, old.name); err != nil {
					return fmt.Errorf("drop index %s: %w", old.name, err)
				}
			}
		}
		if s.driver == "postgres" {
			if err := setEventsFillFactor(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Driver is "sqlite" or "postgres".
func (s *Store) Driver() string { return s.driver }

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now().UTC() }

// maxGroup caps the writes of one group commit.
const maxGroup = 256

// stmtCacheSize bounds the prepared statements kept per database handle.
const stmtCacheSize = 512

// Close finishes the writes under way and releases the connections.
func (s *Store) Close() error {
	if s.gc != nil {
		s.gc.close()
	}
	if s.pgb != nil {
		s.pgb.close()
	}
	if s.pgr != nil {
		s.pgr.close()
	}
	var errs []error
	var closed *sql.DB
	for _, db := range []*gorm.DB{s.w, s.r} {
		if db == nil {
			continue
		}
		if sdb, err := db.DB(); err == nil && sdb != closed {
			errs = append(errs, sdb.Close())
			closed = sdb
		}
	}
	return errors.Join(errs...)
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sdb, err := s.r.DB()
	if err != nil {
		return err
	}
	return sdb.PingContext(ctx)
}

// InTx runs fn in one write transaction; fn's Store reads and writes
// inside it. On SQLite the transaction is a member of a group commit
// (see groupCommit): fn's writes commit or roll back together, and InTx
// returns once they are durable.
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) error {
	if s.inTx {
		return fn(s) // already one transaction (and one group member)
	}
	if s.gc != nil {
		return s.gc.do(ctx, func(db *gorm.DB) error { return fn(s.view(db)) })
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.w.WithContext(ctx).Transaction(func(db *gorm.DB) error {
		// The transaction's statements, like its BEGIN and COMMIT, are not
		// cut short by the caller's context (see Open).
		tx := db.Session(&gorm.Session{NewDB: true, Context: context.Background()})
		tx.Statement.ConnPool = uncancelled{db.Statement.ConnPool}
		return fn(s.view(tx))
	})
}

// view is the store inside the transaction db.
func (s *Store) view(db *gorm.DB) *Store {
	return &Store{w: db, r: db, driver: s.driver, now: s.now, inTx: true}
}

// write runs fn, the statements of one write method, as one write: a
// member of the group commit on SQLite (so writes never wait on each
// other's fsyncs, and never on SQLite's lock), inside the caller's
// transaction when s is one, and as they are on PostgreSQL.
func (s *Store) write(ctx context.Context, fn func(s *Store) error) error {
	if s.gc == nil {
		if !s.inTx {
			// Not begun yet: a caller gone already gets its answer; once
			// begun, the write runs to its end (see Open).
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return fn(s)
	}
	return s.gc.do(ctx, func(db *gorm.DB) error { return fn(s.view(db)) })
}

// writeValue is write for a method that returns a value.
func writeValue[T any](s *Store, ctx context.Context, fn func(s *Store) (T, error)) (T, error) {
	var v T
	err := s.write(ctx, func(s *Store) error {
		var err error
		v, err = fn(s)
		return err
	})
	return v, err
}

// DB exposes the write handle for tests and tools.
func (s *Store) DB() *gorm.DB { return s.w }

func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ErrNotFound
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return fmt.Errorf("%w: %v", ErrDuplicate, err)
	default:
		return err
	}
}

// SyncConfig upserts the configured merchants and channels.
func (s *Store) SyncConfig(ctx context.Context, merchants []Merchant, channels []Channel) error {
	return s.InTx(ctx, func(tx *Store) error {
		for i := range merchants {
			if err := tx.w.Save(&merchants[i]).Error; err != nil {
				return fmt.Errorf("sync merchant %s: %w", merchants[i].ID, err)
			}
		}
		for i := range channels {
			if err := tx.w.Save(&channels[i]).Error; err != nil {
				return fmt.Errorf("sync channel %s: %w", channels[i].ID, err)
			}
		}
		return nil
	})
}

// numberEvents gives the order events written before events were
// numbered their sequence numbers, in the order they were made.
func numberEvents(tx *gorm.DB) error {
	return tx.Exec("UPDATE merchant_events SET sequence = (SELECT COUNT(*) FROM merchant_events p " +
		"WHERE p.order_id = merchant_events.order_id AND (p.created_at < merchant_events.created_at " +
		"OR (p.created_at = merchant_events.created_at AND p.id <= merchant_events.id))) " +
		"WHERE order_id <> '' AND sequence = 0").Error
}
