package store

import (
	"database/sql"
	"reflect"
	"strings"
	"sync"

	"gorm.io/gorm"
)

// rowScanner scans the rows of one result into a model straight through
// database/sql, each column into its field, by a plan (column to field)
// made once per model type and column list. gorm's ScanRows, which it
// replaces on the hot reads, parses the plan again and passes every value
// through a temporary for each row: a twentieth of the ingest's CPU.
type rowScanner struct {
	s    *Store
	plan [][]int // per column: the field's index path; nil, no field
}

type scanKey struct {
	t    reflect.Type
	cols string
}

var scanPlans sync.Map // scanKey -> [][]int

// newRowScanner prepares scans of rows into models of type t (a struct).
func (s *Store) newRowScanner(rows *sql.Rows, t reflect.Type) (*rowScanner, error) {
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	plan, err := s.scanPlan(t, cols)
	if err != nil {
		return nil, err
	}
	return &rowScanner{s: s, plan: plan}, nil
}

// scanPlan is, for each column, the index path of its field in t (nil:
// no field), made once per type and column list.
func (s *Store) scanPlan(t reflect.Type, cols []string) ([][]int, error) {
	key := scanKey{t, strings.Join(cols, ",")}
	if p, ok := scanPlans.Load(key); ok {
		return p.([][]int), nil
	}
	stmt := &gorm.Statement{DB: s.w}
	if err := stmt.Parse(reflect.New(t).Interface()); err != nil {
		return nil, err
	}
	plan := make([][]int, len(cols))
	for i, c := range cols {
		if f := stmt.Schema.LookUpField(c); f != nil && f.DBName != "" {
			plan[i] = f.StructField.Index
		}
	}
	scanPlans.Store(key, plan)
	return plan, nil
}

// scan reads the current row into dest (a pointer to the model). A value
// database/sql cannot convert into its field (a NULL for a plain string,
// a time SQLite hands over as text) is left to gorm's conversions: the
// row is scanned again, whole, through ScanRows.
func (r *rowScanner) scan(rows *sql.Rows, dest any) error {
	if err := rows.Scan(fieldPointers(reflect.ValueOf(dest).Elem(), r.plan)...); err == nil {
		return nil
	}
	return r.s.w.Session(&gorm.Session{NewDB: true}).ScanRows(rows, dest)
}

// fieldPointers are the scan destinations of a row by plan: each column's
// field of v (a struct), or a discard for a column with no field.
func fieldPointers(v reflect.Value, plan [][]int) []any {
	ptrs := make([]any, len(plan))
	for i, idx := range plan {
		if idx == nil {
			var discard any
			ptrs[i] = &discard
			continue
		}
		ptrs[i] = v.FieldByIndex(idx).Addr().Interface()
	}
	return ptrs
}
