package vrpaymentsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
)

// The statement searches the adapter makes (wallee EntityQuery, overseas.md
// §6): an AND of two LEAF filters bounding completedOn (transactions) or
// createdOn (refunds) with GREATER_THAN_OR_EQUAL and LESS_THAN, ordered by
// id, paged with startingEntity / numberOfEntities.

type rangeFilter struct {
	Type      string          `json:"type"`
	FieldName string          `json:"fieldName"`
	Operator  string          `json:"operator"`
	Value     json.RawMessage `json:"value"`
	Children  []rangeFilter   `json:"children"`
}

type rangeQuery struct {
	Filter           *rangeFilter `json:"filter"`
	NumberOfEntities int          `json:"numberOfEntities"`
	StartingEntity   int          `json:"startingEntity"`
}

// peekBody reads the body and puts it back for the next reader.
func peekBody(r *http.Request) []byte {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b
}

// rangeOf reads an AND range query on field; ok false when the body is
// not one (the equality searches handle it).
func rangeOf(body []byte, field string) (from, to time.Time, q rangeQuery, ok bool, err error) {
	if json.Unmarshal(body, &q) != nil || q.Filter == nil || q.Filter.Type != "AND" {
		return from, to, q, false, nil
	}
	for _, c := range q.Filter.Children {
		var v string
		if c.Type != "LEAF" || c.FieldName != field || json.Unmarshal(c.Value, &v) != nil {
			return from, to, q, true, fmt.Errorf("sandbox: an AND search takes LEAF %s filters with string values", field)
		}
		t, perr := time.Parse(time.RFC3339Nano, v)
		if perr != nil {
			return from, to, q, true, fmt.Errorf("sandbox: %s value %q is not ISO-8601", field, v)
		}
		switch c.Operator {
		case "GREATER_THAN_OR_EQUAL":
			from = t
		case "LESS_THAN":
			to = t
		default:
			return from, to, q, true, fmt.Errorf("sandbox: operator %s is not simulated", c.Operator)
		}
	}
	if from.IsZero() || to.IsZero() {
		return from, to, q, true, fmt.Errorf("sandbox: the range needs GREATER_THAN_OR_EQUAL and LESS_THAN")
	}
	if q.NumberOfEntities <= 0 || q.NumberOfEntities > 100 {
		q.NumberOfEntities = 100
	}
	return from, to, q, true, nil
}

func page[T any](all []T, q rangeQuery) []T {
	if q.StartingEntity >= len(all) {
		return []T{}
	}
	all = all[q.StartingEntity:]
	if len(all) > q.NumberOfEntities {
		all = all[:q.NumberOfEntities]
	}
	return all
}

// searchTransactionRange answers a completedOn range search; false when
// the body is not one.
func (s *Sim) searchTransactionRange(w http.ResponseWriter, r *http.Request, ch *channel) bool {
	from, to, q, ok, err := rangeOf(peekBody(r), "completedOn")
	if !ok {
		return false
	}
	if err != nil {
		clientError(w, 442, "DEVELOPER_ERROR", err.Error())
		return true
	}
	s.mu.Lock()
	out := []Transaction{}
	for _, tx := range s.txs {
		t, perr := time.Parse(time.RFC3339Nano, tx.CompletedOn)
		if tx.LinkedSpaceID == ch.spaceID && perr == nil && !t.Before(from) && t.Before(to) {
			out = append(out, *tx)
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	writeJSON(w, http.StatusOK, page(out, q))
	return true
}

// searchRefundRange answers a createdOn range search of refunds.
func (s *Sim) searchRefundRange(w http.ResponseWriter, r *http.Request, ch *channel) bool {
	from, to, q, ok, err := rangeOf(peekBody(r), "createdOn")
	if !ok {
		return false
	}
	if err != nil {
		clientError(w, 442, "DEVELOPER_ERROR", err.Error())
		return true
	}
	s.mu.Lock()
	s.settleRefunds()
	out := []Refund{}
	for _, rf := range s.refunds {
		if rf.LinkedSpaceID == ch.spaceID && !rf.created.Before(from) && rf.created.Before(to) {
			out = append(out, *rf)
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	writeJSON(w, http.StatusOK, page(out, q))
	return true
}

// AlterOrder implements sandbox.BookEditor on the channel's transactions
// whose merchantReference is outTradeNo.
func (s *Sim) AlterOrder(channelID, outTradeNo string, change sandbox.BookChange) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	found := false
	for id, tx := range s.txs {
		if tx.channelID != channelID || tx.MerchantReference != outTradeNo {
			continue
		}
		found = true
		if change.Forget {
			delete(s.txs, id)
			for rid, rf := range s.refunds {
				if rf.txID == id {
					delete(s.refunds, rid)
				}
			}
			continue
		}
		if change.AmountMinor > 0 {
			tx.minor = change.AmountMinor
			tx.AuthorizationAmount = json.Number(providers.FormatMinor(change.AmountMinor, tx.Currency))
			if tx.CompletedAmount != "" {
				tx.CompletedAmount = tx.AuthorizationAmount
			}
		}
	}
	if !found {
		return fmt.Errorf("%w: %s/%s", sandbox.ErrNotFound, channelID, outTradeNo)
	}
	return nil
}
