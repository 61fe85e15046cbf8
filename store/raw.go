package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// The write path every payment crosses runs a handful of fixed statements
// per notification, inside the one group commit that serialises SQLite's
// writes. gorm's statement building (callbacks, reflection, clause trees)
// costs more than SQLite's own work on such a statement, and on the hot
// path it is paid by that one serial section: these helpers run fixed SQL
// straight on the connection's prepared statements. Everything else stays
// on gorm.

// rawExec runs one statement and returns the rows it changed.
func (s *Store) rawExec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := s.w.Statement.ConnPool.ExecContext(ctx, s.bind(query), args...)
	if err != nil {
		return 0, s.driverError(err)
	}
	return res.RowsAffected()
}

// rawQuery runs one statement that returns rows (SELECT, RETURNING) and
// scans them into dest (a pointer to a model or a slice of models, by
// column name). For a single model it reports ErrNotFound when there is
// no row.
func (s *Store) rawQuery(ctx context.Context, dest any, query string, args ...any) error {
	return s.queryOn(ctx, s.w, dest, query, args...)
}

// rawRead is rawQuery on the read connections.
func (s *Store) rawRead(ctx context.Context, dest any, query string, args ...any) error {
	if s.pgr != nil && pgReadable(dest) { // the root store; a transaction's view has none
		return s.pgr.read(ctx, dest, query, args...)
	}
	return s.queryOn(ctx, s.r, dest, query, args...)
}

func (s *Store) queryOn(ctx context.Context, on *gorm.DB, dest any, query string, args ...any) error {
	rows, err := on.Statement.ConnPool.QueryContext(ctx, s.bind(query), args...)
	if err != nil {
		return s.driverError(err)
	}
	defer rows.Close()
	if slice := reflect.ValueOf(dest).Elem(); slice.Kind() == reflect.Slice {
		sc, err := s.newRowScanner(rows, slice.Type().Elem())
		if err != nil {
			return s.driverError(err)
		}
		for rows.Next() {
			row := reflect.New(slice.Type().Elem())
			if err := sc.scan(rows, row.Interface()); err != nil {
				return s.driverError(err)
			}
			slice.Set(reflect.Append(slice, row.Elem()))
		}
		return s.driverError(rows.Err())
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return s.driverError(err)
		}
		return ErrNotFound
	}
	sc, err := s.newRowScanner(rows, reflect.TypeOf(dest).Elem())
	if err != nil {
		return s.driverError(err)
	}
	return s.driverError(sc.scan(rows, dest))
}

// casRow is updateRow for a compare-and-set: no row back means the row
// moved on since it was read, ErrConflict.
func (s *Store) casRow(ctx context.Context, dest any, query string, args ...any) error {
	err := s.updateRow(ctx, dest, query, args...)
	if errors.Is(err, ErrNotFound) {
		return ErrConflict
	}
	return err
}

// updateRow runs a statement returning one row (UPDATE ... RETURNING some
// columns) on the writer and sets those columns on dest, a model the
// caller holds, leaving its other fields as they are; ErrNotFound when no
// row came back.
func (s *Store) updateRow(ctx context.Context, dest any, query string, args ...any) error {
	rows, err := s.w.Statement.ConnPool.QueryContext(ctx, s.bind(query), args...)
	if err != nil {
		return s.driverError(err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return s.driverError(err)
		}
		return ErrNotFound
	}
	sc, err := s.newRowScanner(rows, reflect.TypeOf(dest).Elem())
	if err != nil {
		return s.driverError(err)
	}
	// Scanned into a copy first: dest changes only when the whole row read.
	fresh := reflect.New(reflect.TypeOf(dest).Elem())
	if err := sc.scan(rows, fresh.Interface()); err != nil {
		return s.driverError(err)
	}
	to, from := reflect.ValueOf(dest).Elem(), fresh.Elem()
	for _, idx := range sc.plan {
		if idx != nil {
			to.FieldByIndex(idx).Set(from.FieldByIndex(idx))
		}
	}
	return nil
}

// driverError turns a driver's error into the store's (ErrDuplicate ...).
func (s *Store) driverError(err error) error {
	if err == nil {
		return nil
	}
	if t, ok := s.w.Dialector.(gorm.ErrorTranslator); ok {
		err = t.Translate(err)
	}
	return translate(err)
}

// bind writes the driver's placeholders: PostgreSQL numbers them ($1, $2,
// ...). The store's SQL has no '?' but its placeholders.
func (s *Store) bind(query string) string {
	if s.driver != "postgres" || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// value is one value of an INSERT or UPDATE: a placeholder and its
// argument, or SQL of its own (a DBTime due in some time from the
// database's now, an expression).
func (s *Store) value(v any) (string, []any) {
	switch x := v.(type) {
	case nil:
		return "NULL", nil
	case DBTime:
		if x.relative {
			return "(" + s.dbNowMS() + " + ?)", []any{x.in.Milliseconds()}
		}
		if x.IsZero() {
			return "NULL", nil
		}
		return "?", []any{x.UnixMilli()}
	case *DBTime:
		if x == nil {
			return "NULL", nil
		}
		return s.value(*x)
	case clause.Expr:
		return x.SQL, x.Vars
	case *string:
		if x == nil {
			return "NULL", nil
		}
		return "?", []any{*x}
	}
	return "?", []any{v}
}

// insertSQL is INSERT INTO table (cols) VALUES (...) for one row, with a
// tail (ON CONFLICT ...) if given.
func (s *Store) insertSQL(table string, cols []string, vals []any, tail string) (string, []any) {
	return s.insertRowsSQL(table, cols, [][]any{vals}, tail)
}

// insertRowsSQL is insertSQL for many rows in one statement.
func (s *Store) insertRowsSQL(table string, cols []string, rows [][]any, tail string) (string, []any) {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(table)
	b.WriteString(" (")
	b.WriteString(strings.Join(cols, ", "))
	b.WriteString(") VALUES ")
	args := make([]any, 0, len(rows)*len(cols))
	for r, vals := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for i, v := range vals {
			if i > 0 {
				b.WriteString(", ")
			}
			frag, a := s.value(v)
			b.WriteString(frag)
			args = append(args, a...)
		}
		b.WriteString(")")
	}
	b.WriteString(tail)
	return b.String(), args
}

// valuesSQL is a VALUES list of rows, each written as row (its
// placeholders, with the casts PostgreSQL needs to type them), and the
// rows' values in order.
func valuesSQL(row string, rows [][]any) (string, []any) {
	var b strings.Builder
	var args []any
	b.WriteString("VALUES ")
	for i, r := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
		args = append(args, r...)
	}
	return b.String(), args
}

// casSQL is the compare-and-set of a versioned row: UPDATE table SET
// fields (in key order, so the statement's text repeats and stays
// prepared), version + 1 and updated_at, WHERE id and version match,
// RETURNING what the caller's copy of the row may lack: every column but
// those written once with the row (see writtenOnce), which the caller
// read when it read the version it compares. The big immutable columns
// (a description, metadata, the pay parameters' neighbours) are not sent
// back and parsed again on every transition.
func (s *Store) casSQL(table, id string, version int64, fields map[string]any) (string, []any) {
	return s.casSQLAt(table, id, version, fields, s.Now())
}

// casSQLAt is casSQL writing now as updated_at.
func (s *Store) casSQLAt(table, id string, version int64, fields map[string]any, now time.Time) (string, []any) {
	q, args := s.casSetSQL(table, id, version, fields, now)
	var b strings.Builder
	b.WriteString(q)
	b.WriteString(" RETURNING ")
	first := true
	for _, c := range s.columnsOf(table) {
		if _, set := fields[c]; writtenOnce[table][c] && !set {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		b.WriteString(c)
		first = false
	}
	return b.String(), args
}

// casSetSQL is the compare-and-set without its RETURNING clause.
func (s *Store) casSetSQL(table, id string, version int64, fields map[string]any, now time.Time) (string, []any) {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		if k != "version" && k != "updated_at" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("UPDATE ")
	b.WriteString(table)
	b.WriteString(" SET ")
	args := make([]any, 0, len(keys)+3)
	for _, k := range keys {
		frag, a := s.value(fields[k])
		b.WriteString(k)
		b.WriteString(" = ")
		b.WriteString(frag)
		b.WriteString(", ")
		args = append(args, a...)
	}
	b.WriteString("version = version + 1, updated_at = ? WHERE id = ? AND version = ?")
	args = append(args, now, id, version)
	return b.String(), args
}

// writtenOnce are the columns of orders and refunds that the store writes
// only when it inserts the row (or, for a compare-and-set that sets them,
// in its fields): a compare-and-set need not return them.
var writtenOnce = map[string]map[string]bool{
	"orders": setOf("id", "merchant_id", "channel_id", "provider", "out_trade_no", "amount_minor", "currency", "description",
		"pay_method", "payer_open_id", "payer_app_id", "client_ip", "notify_url", "return_url", "metadata", "request_hash",
		"expires_at", "created_at"),
	"refunds": setOf("id", "order_id", "merchant_id", "channel_id", "out_refund_no", "amount_minor", "currency", "reason",
		"request_hash", "external", "created_at"),
}

func setOf(cols ...string) map[string]bool {
	m := make(map[string]bool, len(cols))
	for _, c := range cols {
		m[c] = true
	}
	return m
}

var tableModels = map[string]any{"orders": &Order{}, "refunds": &Refund{}}

// columnsOf lists a versioned table's columns, in the model's order.
func (s *Store) columnsOf(table string) []string {
	cols, _ := s.schemaOf(table)
	return cols
}

// schemaOf is a versioned table's columns and the model's fields that
// hold them, parsed once.
func (s *Store) schemaOf(table string) ([]string, []*schema.Field) {
	if t, ok := tableSchemas.Load(table); ok {
		ts := t.(tableSchema)
		return ts.cols, ts.fields
	}
	stmt := &gorm.Statement{DB: s.w}
	if err := stmt.Parse(tableModels[table]); err != nil {
		panic(fmt.Sprintf("store: columns of %s: %v", table, err))
	}
	var ts tableSchema
	for _, name := range stmt.Schema.DBNames {
		ts.cols = append(ts.cols, name)
		ts.fields = append(ts.fields, stmt.Schema.FieldsByDBName[name])
	}
	tableSchemas.Store(table, ts)
	return ts.cols, ts.fields
}

type tableSchema struct {
	cols   []string
	fields []*schema.Field
}

var tableSchemas sync.Map // table -> tableSchema

// rowValues is every column of model's row (a *Order or *Refund) and its
// value, for a raw INSERT: gorm's Create builds the same statement through
// its callbacks and reflection, in the group commit's serial section.
func (s *Store) rowValues(table string, model any) ([]string, []any) {
	cols, fields := s.schemaOf(table)
	rv := reflect.ValueOf(model).Elem()
	vals := make([]any, len(fields))
	for i, f := range fields {
		vals[i], _ = f.ValueOf(context.Background(), rv)
	}
	return cols, vals
}

// Columns of the rows the hot path inserts; TestRawColumnsCoverTheModels
// keeps them whole.
var (
	notificationColumns = []string{"id", "channel_id", "provider", "provider_notify_id", "method", "path", "headers", "body",
		"remote_addr", "verified", "kind", "order_id", "outcome", "detail", "received_at"}
	eventColumns = []string{"id", "merchant_id", "dedupe_key", "type", "order_id", "sequence", "refund_id", "url", "payload",
		"status", "attempts", "next_try_ms", "lease_until_ms", "lease_token", "last_error", "delivered_at", "created_at", "updated_at"}
	attemptColumns = []string{"id", "event_id", "status_code", "error", "latency_ms", "at"}
)

func notificationValues(n *Notification) []any {
	return []any{n.ID, n.ChannelID, n.Provider, n.ProviderNotifyID, n.Method, n.Path, n.Headers, nonNilBytes(n.Body),
		n.RemoteAddr, n.Verified, n.Kind, n.OrderID, n.Outcome, n.Detail, n.ReceivedAt}
}

func eventValues(e *MerchantEvent) []any {
	var delivered any
	if e.DeliveredAt != nil {
		delivered = *e.DeliveredAt
	}
	return []any{e.ID, e.MerchantID, e.DedupeKey, e.Type, e.OrderID, e.Sequence, e.RefundID, e.URL, nonNilBytes(e.Payload),
		e.Status, e.Attempts, e.NextTryAt, e.LeaseUntil, e.LeaseToken, e.LastError, delivered, e.CreatedAt, e.UpdatedAt}
}

func attemptValues(a *EventAttempt) []any {
	return []any{a.ID, a.EventID, a.StatusCode, a.Error, a.LatencyMS, a.At}
}

// nonNilBytes keeps an empty body a zero-length value, as gorm writes it
// (a nil []byte would be NULL).
func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
