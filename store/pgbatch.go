package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgChangeBatch groups the prepared order changes (OrderChange) of
// concurrent callers on PostgreSQL: the changes queued when a sender is
// free go to the server in one round trip, as one pipeline ending in one
// Sync, which PostgreSQL runs as one implicit transaction: one commit and
// one WAL flush for the group, one network write and read, where each
// change alone was its own. Every caller is answered once the group's
// commit has returned.
//
// A change whose compare-and-set lost is no error (it writes nothing and
// its caller gets ErrConflict). A change that fails (a constraint, a
// deadlock the server broke) aborts the pipeline and so the group; the
// group's changes are then written again one by one, so that one
// member's failure is its own. The same happens when the connection
// fails, and the outcome of the group is unknown: a change the group did
// commit finds its order's version moved and reports ErrConflict, and its
// caller reads the order again as after any lost race.
//
// A group's changes are sent in the order of their orders' ids: two
// groups lock the orders they share in the same order and cannot wait on
// each other.
type pgChangeBatch struct {
	s  *Store
	db *sql.DB
	q  *pgQueue[*pgChange]

	groups  atomic.Int64 // groups written (a change alone is one)
	changes atomic.Int64 // changes in them
}

type pgChange struct {
	pgMember
	c *OrderChange
}

// pgBatchSenders is how many groups may be in flight at once, each on a
// connection of its own: the server works on one while the next fills.
// (One or two senders made larger groups and measured no faster.)
const pgBatchSenders = 4

const pgMaxBatch = 64

func newPGChangeBatch(s *Store, db *sql.DB) *pgChangeBatch {
	b := &pgChangeBatch{s: s, db: db}
	b.q = newPGQueue("pgbatch", pgBatchSenders, pgMaxBatch, b.commit)
	return b
}

// do writes c in the next group and returns once the group's commit has
// returned. A caller whose ctx ends while c waits gets ctx.Err() and c is
// not written; once sent, c is written whatever ctx says.
func (b *pgChangeBatch) do(ctx context.Context, c *OrderChange) error {
	return b.q.do(ctx, &pgChange{c: c})
}

func (b *pgChangeBatch) close() { b.q.close() }

// pgMember is what every member of a pgQueue carries: its caller's
// context, its outcome, and the channel closed once it is answered.
type pgMember struct {
	ctx  context.Context
	err  error
	done chan struct{}
}

func (m *pgMember) member() *pgMember { return m }

type pgQueued interface{ member() *pgMember }

// pgQueue hands what concurrent callers queue to a few senders, each
// taking whatever is queued when it is free (nothing waits to fill a
// group). A member whose caller's context ended while it waited gets
// ctx.Err() and is not sent; flush gets the others and sets their
// outcomes; every member is answered when flush returns.
type pgQueue[M pgQueued] struct {
	queue   chan M
	flush   func(live []M)
	mu      sync.RWMutex // guards closed against sends on a closed queue
	closed  bool
	senders sync.WaitGroup
}

func newPGQueue[M pgQueued](label string, senders, maxBatch int, flush func(live []M)) *pgQueue[M] {
	q := &pgQueue[M]{queue: make(chan M, maxBatch), flush: flush}
	for range senders {
		q.senders.Add(1)
		go func() {
			defer q.senders.Done()
			pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("store", label)))
			batch := make([]M, 0, maxBatch)
			for m := range q.queue {
				batch = takeQueued(q.queue, append(batch[:0], m), maxBatch)
				q.answer(batch)
			}
		}()
	}
	return q
}

// do queues m and returns its outcome once its group is answered.
func (q *pgQueue[M]) do(ctx context.Context, m M) error {
	b := m.member()
	b.ctx, b.done = ctx, make(chan struct{})
	if !q.put(m) {
		return ErrClosed
	}
	<-b.done
	return b.err
}

// answer flushes the members still wanted and answers every one.
func (q *pgQueue[M]) answer(batch []M) {
	defer func() {
		for _, m := range batch {
			close(m.member().done)
		}
	}()
	live := make([]M, 0, len(batch))
	for _, m := range batch {
		b := m.member()
		if err := b.ctx.Err(); err != nil {
			b.err = err
			continue
		}
		live = append(live, m)
	}
	if len(live) > 0 {
		q.flush(live)
	}
}

// put queues m; false once the queue is closed.
func (q *pgQueue[M]) put(m M) bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return false
	}
	q.queue <- m
	return true
}

// close stops taking members and waits for those queued to be flushed.
func (q *pgQueue[M]) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.queue)
	}
	q.mu.Unlock()
	q.senders.Wait()
}

// commit writes one group and sets its members' outcomes.
func (b *pgChangeBatch) commit(live []*pgChange) {
	b.groups.Add(1)
	b.changes.Add(int64(len(live)))
	sort.SliceStable(live, func(i, j int) bool { return live[i].c.order.ID < live[j].c.order.ID })
	if err := b.send(live); err != nil {
		// Aborted, or its outcome unknown: each change again, alone.
		for _, m := range live {
			m.err = b.s.applyOrderChangePG(context.Background(), m.c)
		}
	}
}

// send writes the group in one pipeline, and records each change's
// result only once the group's commit has returned.
func (b *pgChangeBatch) send(group []*pgChange) error {
	type result struct {
		seq, written int64
		lost         bool
	}
	results := make([]result, len(group))
	err := pipeline(b.db, func(pb *pgx.Batch) {
		for _, m := range group {
			q, args := b.s.pgChangeSQL(m.c)
			pb.Queue(q, args...)
		}
	}, func(br pgx.BatchResults) error {
		for i := range group {
			err := br.QueryRow().Scan(&results[i].seq, &results[i].written)
			if errors.Is(err, pgx.ErrNoRows) {
				results[i].lost = true
				continue
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, m := range group {
		if results[i].lost {
			m.err = ErrConflict
			continue
		}
		m.c.written(results[i].seq, results[i].written > 0)
	}
	return nil
}

// pipeline sends the statements queue puts in a pgx batch over one
// connection of db, as one pipeline ending in one Sync (one implicit
// transaction), reads their results with read, and returns once the
// server has answered the Sync: for writes, once the group committed, or
// the error that aborted it (read's own error aborts it too).
func pipeline(db *sql.DB, queue func(*pgx.Batch), read func(pgx.BatchResults) error) error {
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("pipeline: driver connection is %T", dc)
		}
		var pb pgx.Batch
		queue(&pb)
		br := sc.Conn().SendBatch(ctx, &pb)
		if err := read(br); err != nil {
			_ = br.Close()
			return err
		}
		// Close reads to the Sync's answer: the implicit transaction's
		// commit, and its error if it failed.
		return br.Close()
	})
}
