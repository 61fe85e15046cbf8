package store

import (
	"context"
	"database/sql"
	"errors"
	"reflect"

	"github.com/jackc/pgx/v5"
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
	q  *pgQueue[*pgRead]
}

type pgRead struct {
	pgMember
	query string // bound ($1 …)
	args  []any
	dest  any  // pointer to a model
	alone bool // to be read again on its own
}

func newPGReadBatch(s *Store, db *sql.DB) *pgReadBatch {
	b := &pgReadBatch{s: s, db: db}
	b.q = newPGQueue("pgread", pgBatchSenders, pgMaxBatch, b.flush)
	return b
}

func (b *pgReadBatch) close() { b.q.close() }

// read reads the one row query finds into dest (ErrNotFound: none).
func (b *pgReadBatch) read(ctx context.Context, dest any, query string, args ...any) error {
	return b.q.do(ctx, &pgRead{query: b.s.bind(query), args: args, dest: dest})
}

func (b *pgReadBatch) flush(live []*pgRead) {
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

// send reads the group in one pipeline.
func (b *pgReadBatch) send(group []*pgRead) error {
	return pipeline(b.db, func(pb *pgx.Batch) {
		for _, m := range group {
			pb.Queue(m.query, m.args...)
		}
	}, func(br pgx.BatchResults) error {
		for _, m := range group {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			m.err = b.s.scanOne(rows, m.dest)
			rows.Close()
			if m.err != nil && !errors.Is(m.err, ErrNotFound) {
				// A row pgx would not scan: the rest of the pipeline's
				// results cannot be trusted to follow; all read alone.
				return m.err
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
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
	if err := rows.Scan(fieldPointers(fresh, plan)...); err != nil {
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
