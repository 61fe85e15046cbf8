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
	q  *pgQueue[pgChange]

	groups  atomic.Int64 // groups written (a change alone is one)
	changes atomic.Int64 // changes in them
}

type pgChange struct {
	ctx  context.Context
	c    *OrderChange
	err  error
	done chan struct{}
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
	m := &pgChange{ctx: ctx, c: c, done: make(chan struct{})}
	if !b.q.put(m) {
		return ErrClosed
	}
	<-m.done
	return m.err
}

func (b *pgChangeBatch) close() { b.q.close() }

// pgQueue hands what concurrent callers queue to a few senders, each
// taking whatever is queued when it is free (nothing waits to fill a
// group): flush gets the group and must answer every member.
type pgQueue[T any] struct {
	queue   chan *T
	mu      sync.RWMutex // guards closed against sends on a closed queue
	closed  bool
	senders sync.WaitGroup
}

func newPGQueue[T any](label string, senders, maxBatch int, flush func([]*T)) *pgQueue[T] {
	q := &pgQueue[T]{queue: make(chan *T, maxBatch)}
	for range senders {
		q.senders.Add(1)
		go func() {
			defer q.senders.Done()
			pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("store", label)))
			batch := make([]*T, 0, maxBatch)
			for m := range q.queue {
				batch = append(batch[:0], m)
			fill:
				for len(batch) < maxBatch {
					select {
					case m, ok := <-q.queue:
						if !ok {
							break fill
						}
						batch = append(batch, m)
					default:
						break fill
					}
				}
				flush(batch)
			}
		}()
	}
	return q
}

// put queues m; false once the queue is closed.
func (q *pgQueue[T]) put(m *T) bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return false
	}
	q.queue <- m
	return true
}

// close stops taking members and waits for those queued to be flushed.
func (q *pgQueue[T]) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.queue)
	}
	q.mu.Unlock()
	q.senders.Wait()
}

// commit writes one group and answers its members.
func (b *pgChangeBatch) commit(batch []*pgChange) {
	defer func() {
		for _, m := range batch {
			close(m.done)
		}
	}()
	live := make([]*pgChange, 0, len(batch))
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
	ctx := context.Background()
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	type result struct {
		seq, written int64
		lost         bool
	}
	results := make([]result, len(group))
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("pgbatch: driver connection is %T", dc)
		}
		var pb pgx.Batch
		for _, m := range group {
			q, args := b.s.pgChangeSQL(m.c)
			pb.Queue(q, args...)
		}
		br := sc.Conn().SendBatch(ctx, &pb)
		for i := range group {
			err := br.QueryRow().Scan(&results[i].seq, &results[i].written)
			if errors.Is(err, pgx.ErrNoRows) {
				results[i].lost = true
				continue
			}
			if err != nil {
				_ = br.Close()
				return err
			}
		}
		// Close reads to the Sync's answer: the implicit transaction's
		// commit, and its error if it failed.
		return br.Close()
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
