package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// ErrClosed: the store was closed before the write could run.
var ErrClosed = errors.New("store closed")

// groupCommit batches the write transactions of concurrent callers on
// SQLite's one writer connection into one database transaction, so that
// one COMMIT (one fsync with synchronous=FULL) covers them all. Members
// run one after the other, each inside its own SAVEPOINT: a member that
// fails is rolled back alone and the others still commit. Every caller is
// answered only when the COMMIT that covers its change has returned, so
// an acknowledgement sent after a write is as durable as with one COMMIT
// per write.
//
// Nothing waits to fill a batch: the committer takes whatever is queued
// when it is free. Alone, a write commits at once; under load, the writes
// that arrive during one COMMIT's fsync share the next.
//
// The committer keeps one connection for good and begins and ends its
// transactions with plain statements, so the statements it prepares stay
// prepared from one transaction to the next (database/sql's transactions
// would prepare every statement again).
type groupCommit struct {
	conn     *sql.Conn
	db       *gorm.DB // on conn, with its prepared statements
	prepared *gorm.PreparedStmtDB
	queue    chan *commitMember
	maxBatch int

	mu     sync.RWMutex // guards closed against sends on a closed queue
	closed bool
	done   chan struct{}

	commits atomic.Int64 // COMMITs issued
	members atomic.Int64 // writes committed or rolled back through them
	busy    atomic.Int64 // nanoseconds spent in transactions, BEGIN to COMMIT
}

type commitMember struct {
	ctx   context.Context
	fn    func(db *gorm.DB) error
	err   error
	panic any
	done  chan struct{}
}

func newGroupCommit(w *gorm.DB, maxBatch int) (*groupCommit, error) {
	sdb, err := w.DB()
	if err != nil {
		return nil, err
	}
	conn, err := sdb.Conn(context.Background())
	if err != nil {
		return nil, fmt.Errorf("group commit connection: %w", err)
	}
	// Each member's SAVEPOINT makes SQLite keep the first copy of every
	// page the member changes in a sub-journal, a temporary file once it
	// outgrows 64 KiB: two write(2) per page in the one serial section. In
	// memory it is a copy; it is only ever read to undo a member, never
	// needed after a crash (the WAL holds nothing uncommitted).
	if _, err := conn.ExecContext(context.Background(), "PRAGMA temp_store = MEMORY"); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("group commit connection: %w", err)
	}
	db := w.Session(&gorm.Session{NewDB: true, Context: context.Background()})
	prepared := gorm.NewPreparedStmtDB(conn, stmtCacheSize, 0)
	db.Statement.ConnPool = uncancelled{prepared}
	g := &groupCommit{conn: conn, db: db, prepared: prepared, queue: make(chan *commitMember, maxBatch), maxBatch: maxBatch, done: make(chan struct{})}
	go g.run()
	return g, nil
}

// do runs fn in the next group transaction and returns its error, or the
// COMMIT's, once the transaction has ended. A panic in fn is raised again
// here, in the caller's goroutine, after the rest of the group committed.
// A caller whose ctx ends while its write waits in the queue gets
// ctx.Err() and its write does not run; once the write has begun, the
// caller waits for the COMMIT whatever its ctx says (its change may be
// durable, and the caller must not act as if it were not).
func (g *groupCommit) do(ctx context.Context, fn func(db *gorm.DB) error) error {
	m := &commitMember{ctx: ctx, fn: fn, done: make(chan struct{})}
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return ErrClosed
	}
	g.queue <- m
	g.mu.RUnlock()
	<-m.done
	if m.panic != nil {
		panic(m.panic)
	}
	return m.err
}

// close stops taking writes and waits for those queued to finish.
func (g *groupCommit) close() {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.queue)
	}
	g.mu.Unlock()
	<-g.done
	g.prepared.Close()
	_ = g.conn.Close()
}

func (g *groupCommit) run() {
	defer close(g.done)
	// Profiles tell the one serial section apart: -tagfocus=store=committer.
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("store", "committer")))
	batch := make([]*commitMember, 0, g.maxBatch)
	for m := range g.queue {
		batch = takeQueued(g.queue, append(batch[:0], m), g.maxBatch)
		start := time.Now()
		g.commit(batch)
		g.busy.Add(int64(time.Since(start)))
	}
}

// takeQueued appends to batch what waits in queue now, up to max in all,
// without waiting for more: a group is whatever arrived while the last
// one was being written.
func takeQueued[M any](queue <-chan M, batch []M, max int) []M {
	for len(batch) < max {
		select {
		case m, ok := <-queue:
			if !ok {
				return batch
			}
			batch = append(batch, m)
		default:
			return batch
		}
	}
	return batch
}

// commit runs one group transaction and answers its members.
func (g *groupCommit) commit(batch []*commitMember) {
	defer func() {
		for _, m := range batch {
			close(m.done)
		}
	}()
	live := batch[:0:0]
	for _, m := range batch {
		if err := m.ctx.Err(); err != nil {
			m.err = err
			continue
		}
		live = append(live, m)
	}
	if len(live) == 0 {
		return
	}
	// The transaction is the store's, not any one caller's: a caller that
	// goes away must not cut the others' COMMIT short.
	if err := g.exec("BEGIN IMMEDIATE"); err != nil {
		failAll(live, fmt.Errorf("begin: %w", err))
		return
	}
	g.commits.Add(1)
	g.members.Add(int64(len(live)))
	if len(live) == 1 {
		// Alone, a member needs no savepoint: its failure is the
		// transaction's.
		m := live[0]
		run(m, g.db)
		if m.err != nil || m.panic != nil {
			g.rollback()
			return
		}
		if err := g.exec("COMMIT"); err != nil {
			g.rollback()
			m.err = fmt.Errorf("commit: %w", err)
		}
		return
	}
	var ok []*commitMember
	for i, m := range live {
		sp := "m" + strconv.Itoa(i)
		if err := g.exec("SAVEPOINT " + sp); err != nil {
			// The transaction is unusable: nothing of it may commit.
			g.rollback()
			failAll(live, fmt.Errorf("savepoint: %w", err))
			return
		}
		run(m, g.db)
		if m.err == nil && m.panic == nil {
			if err := g.exec("RELEASE " + sp); err != nil {
				g.rollback()
				failAll(live, fmt.Errorf("release savepoint: %w", err))
				return
			}
			ok = append(ok, m)
			continue
		}
		// Undo this member alone. If SQLite already rolled the whole
		// transaction back (an I/O error, a full disk), that fails too, and
		// the members before it lost their writes with it.
		if err := g.exec("ROLLBACK TO " + sp); err != nil {
			g.rollback()
			failAll(live, fmt.Errorf("transaction aborted by another write in its group: %w", err))
			return
		}
		if err := g.exec("RELEASE " + sp); err != nil {
			g.rollback()
			failAll(live, fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if err := g.exec("COMMIT"); err != nil {
		g.rollback()
		failAll(ok, fmt.Errorf("commit: %w", err))
	}
}

// exec runs one of the committer's own statements (BEGIN, SAVEPOINT,
// COMMIT, ...) straight on its connection: they are fixed SQL, and gorm's
// statement building would cost more than SQLite's work.
func (g *groupCommit) exec(sql string) error {
	_, err := g.db.Statement.ConnPool.ExecContext(context.Background(), sql)
	return err
}

// rollback ends the transaction, if SQLite has not already.
func (g *groupCommit) rollback() {
	_ = g.exec("ROLLBACK")
}

// run calls the member's function, keeping a panic for its caller.
func run(m *commitMember, tx *gorm.DB) {
	defer func() {
		if p := recover(); p != nil {
			m.panic = p
		}
	}()
	m.err = m.fn(tx.WithContext(context.WithoutCancel(m.ctx)))
}

// uncancelled runs the committer's statements without their callers'
// cancellation, whatever context a store method passes down:
//   - SQLite answers an interrupted INSERT, UPDATE or DELETE inside a
//     transaction by rolling back the whole transaction, the other
//     members' writes with it;
//   - with a context that can end, the driver runs every statement on a
//     goroutine of its own and waits for it (and database/sql watches the
//     context from another): two hand-offs through the scheduler for each
//     statement of the one serial section.
type uncancelled struct{ gorm.ConnPool }

func (u uncancelled) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return u.ConnPool.PrepareContext(context.WithoutCancel(ctx), query)
}

func (u uncancelled) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return u.ConnPool.ExecContext(context.WithoutCancel(ctx), query, args...)
}

func (u uncancelled) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return u.ConnPool.QueryContext(context.WithoutCancel(ctx), query, args...)
}

func (u uncancelled) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return u.ConnPool.QueryRowContext(context.WithoutCancel(ctx), query, args...)
}

// uncancelledPool is a PostgreSQL pool whose statements and transactions
// run without their callers' cancellation (see Open).
type uncancelledPool struct{ *sql.DB }

func (p uncancelledPool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return p.DB.PrepareContext(context.WithoutCancel(ctx), query)
}

func (p uncancelledPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.DB.ExecContext(context.WithoutCancel(ctx), query, args...)
}

func (p uncancelledPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return p.DB.QueryContext(context.WithoutCancel(ctx), query, args...)
}

func (p uncancelledPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return p.DB.QueryRowContext(context.WithoutCancel(ctx), query, args...)
}

func (p uncancelledPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	return p.DB.BeginTx(context.WithoutCancel(ctx), opts)
}

// GetDBConn lets gorm's DB() find the pool.
func (p uncancelledPool) GetDBConn() (*sql.DB, error) { return p.DB, nil }

func failAll(ms []*commitMember, err error) {
	for _, m := range ms {
		if m.err == nil && m.panic == nil {
			m.err = err
		}
	}
}

// CommitStats are the group commit's counters: COMMITs issued, the
// writes they carried, and the time the one writer spent in transactions
// (SQLite; Busy growing as fast as the clock means the writer is the
// bottleneck). On PostgreSQL they count the groups of prepared order
// changes and the changes in them (see pgChangeBatch), and Busy is zero.
type CommitStats struct {
	Commits, Writes int64
	Busy            time.Duration
}

// CommitStats reads the group commit's counters.
func (s *Store) CommitStats() CommitStats {
	if s.pgb != nil {
		return CommitStats{Commits: s.pgb.groups.Load(), Writes: s.pgb.changes.Load()}
	}
	if s.gc == nil {
		return CommitStats{}
	}
	return CommitStats{Commits: s.gc.commits.Load(), Writes: s.gc.members.Load(), Busy: time.Duration(s.gc.busy.Load())}
}
