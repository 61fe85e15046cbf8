package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgReadBatch sends the one-row reads of concurrent callers on PostgreSQL
// (a notification's lookup of its order, above all) to the server
// together, in one pipeline: one network write and one read for the group
// where each read alone was its own round trip, whose system calls were
// a fifth of the gateway's CPU under the ingest load. A read that cannot
// go this way (an error, a value pgx will not scan into its field as
// database/sql would) makes its group read again one by one: reads can
// be repeated.
type pgReadBatch struct {
	s  *Store
	db *sql.DB
	q  *pgQueue[pgRead]
}

type pgRead struct {
	ctx   context.Context
	query string // bound ($1 …)
	args  []any
	dest  any // pointer to a model
	err   error
	alone bool // to be read again on its own
	done  chan struct{}
}

func newPGReadBatch(s *Store, db *sql.DB) *pgReadBatch {
	b := &pgReadBatch{s: s, db: db}
	b.q = newPGQueue("pgread", pgBatchSenders, pgMaxBatch, b.flush)
	return b
}

func (b *pgReadBatch) close() { b.q.close() }

// read reads the one row query finds into dest (ErrNotFound: none).
func (b *pgReadBatch) read(ctx context.Context, dest any, query string, args ...any) error {
	m := &pgRead{ctx: ctx, query: b.s.bind(query), args: args, dest: dest, done: make(chan struct{})}
	if !b.q.put(m) {
		return ErrClosed
	}
	<-m.done
	return m.err
}

func (b *pgReadBatch) flush(batch []*pgRead) {
	defer func() {
		for _, m := range batch {
			close(m.done)
		}
	}()
	live := make([]*pgRead, 0, len(batch))
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
	if err := b.send(live); err != nil {
		for _, m := range live {
			m.alone = true
		}
	}
	for _, m := range live {
		if m.alone {
			m.err = b.s.queryOn(m.ctx, b.s.r, m.dest, m.query, m.args...)
		}
	}
}

// send reads the group in one pipeline; a member whose row pgx would not
// scan is marked to be read alone.
func (b *pgReadBatch) send(group []*pgRead) error {
	ctx := context.Background()
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("pgread: driver connection is %T", dc)
		}
		var pb pgx.Batch
		for _, m := range group {
			pb.Queue(m.query, m.args...)
		}
		br := sc.Conn().SendBatch(ctx, &pb)
		for _, m := range group {
			rows, err := br.Query()
			if err != nil {
				_ = br.Close()
				return err
			}
			m.err = b.s.scanOne(rows, m.dest)
			rows.Close()
			if m.err != nil && !errors.Is(m.err, ErrNotFound) {
				// A row pgx would not scan: the rest of the pipeline's
				// results cannot be trusted to follow; all read alone.
				_ = br.Close()
				return m.err
			}
			if err := rows.Err(); err != nil {
				_ = br.Close()
				return err
			}
		}
		return br.Close()
	})
}

// scanOne reads the first row of rows into dest, each column into its
// field by the plan the database/sql reads use; ErrNotFound without a
// row. dest changes only when the whole row scanned. pgx refuses some
// values database/sql and gorm convert (NULL for a plain string): an
// error then, and the read is repeated alone.
func (s *Store) scanOne(rows pgx.Rows, dest any) error {
	if !rows.Next() {
		return ErrNotFound
	}
	fds := rows.FieldDescriptions()
	cols := make([]string, len(fds))
	for i, fd := range fds {
		cols[i] = fd.Name
	}
	t := reflect.TypeOf(dest).Elem()
	plan, err := s.scanPlan(t, cols)
	if err != nil {
		return err
	}
	fresh := reflect.New(t).Elem()
	ptrs := make([]any, len(cols))
	for i, idx := range plan {
		if idx == nil {
			var discard any
			ptrs[i] = &discard
			continue
		}
		ptrs[i] = fresh.FieldByIndex(idx).Addr().Interface()
	}
	if err := rows.Scan(ptrs...); err != nil {
		return err
	}
	reflect.ValueOf(dest).Elem().Set(fresh)
	return nil
}

// pgReadable reports whether a read of dest can go through the read batch:
// one row into a model.
func pgReadable(dest any) bool {
	t := reflect.TypeOf(dest)
	return t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct
}
