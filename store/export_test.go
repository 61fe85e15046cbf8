package store

import "time"

// ClaimQuery is a due-work statement and the index that must serve it.
type ClaimQuery struct {
	Name, SQL, Index string
	Args             []any
}

// ClaimQueries exposes the claim statements to the index tests.
func (s *Store) ClaimQueries() []ClaimQuery {
	now := time.Now().UTC()
	var out []ClaimQuery
	for _, q := range []dueQuery{dueOrders, dueRefunds, dueEvents} {
		out = append(out, ClaimQuery{Name: "claim " + q.table, SQL: s.claimSQL(q), Index: q.index,
			Args: []any{now, "lease_x", now, now, 10, now}})
	}
	return out
}
