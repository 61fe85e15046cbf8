package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/paygate/paygate/providers"
)

// Test hooks for reconciliation: the provider's books can be made to
// disagree with the gateway, and a simulator's statement can be held back.

// BookChange alters a simulator's own record of an order.
type BookChange struct {
	// AmountMinor, when > 0, replaces the amount the provider holds for the
	// order (its statements, queries and refunds use it): an amount altered
	// at the provider.
	AmountMinor int64
	// Forget drops the order from the provider's books: a payment the
	// gateway believes in and the provider never settled.
	Forget bool
}

// BookEditor is implemented by simulators whose order book can be altered.
type BookEditor interface {
	AlterOrder(channelID, outTradeNo string, change BookChange) error
}

// StatementControl is implemented by simulators that serve statements:
// with ready false the statement API answers "still being generated"
// (WeChat Bill Creating) until ready is set again.
type StatementControl interface {
	SetStatementReady(channelID string, ready bool) error
}

// AlterOrder changes the provider's record of an order of a channel.
func (s *Sandbox) AlterOrder(channelID, outTradeNo string, change BookChange) error {
	sim, err := s.simOf(channelID)
	if err != nil {
		return err
	}
	ed, ok := sim.(BookEditor)
	if !ok {
		return fmt.Errorf("sandbox: the %s simulator has no book hook", sim.Kind())
	}
	return ed.AlterOrder(channelID, outTradeNo, change)
}

// SetStatementReady holds a channel's statements back (false) or serves
// them again (true).
func (s *Sandbox) SetStatementReady(channelID string, ready bool) error {
	sim, err := s.simOf(channelID)
	if err != nil {
		return err
	}
	sc, ok := sim.(StatementControl)
	if !ok {
		return fmt.Errorf("sandbox: the %s simulator serves no statements", sim.Kind())
	}
	return sc.SetStatementReady(channelID, ready)
}

func (s *Sandbox) simOf(channelID string) (Simulator, error) {
	s.mu.RLock()
	ch, ok := s.channels[channelID]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: unknown channel %q", ErrNotFound, channelID)
	}
	return s.sims[ch.Kind], nil
}

// serveBook is POST /sandbox/book/{channel}/{out_trade_no} with
// {"amount": "11.00"} (the provider now holds this amount for the order) or
// {"forget": true} (the provider never settled it).
func (s *Sandbox) serveBook(w http.ResponseWriter, r *http.Request, sub string) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return
	}
	channelID, outTradeNo, ok := strings.Cut(sub, "/")
	if !ok || channelID == "" || outTradeNo == "" {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "use /sandbox/book/{channel}/{out_trade_no}"})
		return
	}
	var body struct {
		Amount string `json:"amount"`
		Forget bool   `json:"forget"`
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		err = dec.Decode(&body)
	}
	usage := `body: {"amount": "11.00"} or {"forget": true}`
	if err != nil || (body.Amount == "") == !body.Forget {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": usage})
		return
	}
	change := BookChange{Forget: body.Forget}
	if body.Amount != "" {
		s.mu.RLock()
		ch, known := s.channels[channelID]
		s.mu.RUnlock()
		if !known {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown channel " + channelID})
			return
		}
		m, err := providers.ParseAmount(body.Amount, ch.Currency)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		change.AmountMinor = m.Minor
	}
	err = s.AlterOrder(channelID, outTradeNo, change)
	switch {
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"channel": channelID, "out_trade_no": outTradeNo, "amount": body.Amount, "forget": body.Forget})
	}
}

// serveStatementControl is POST /sandbox/statement/{channel} with
// {"ready": false} (statements answer "being generated") or {"ready": true}.
func (s *Sandbox) serveStatementControl(w http.ResponseWriter, r *http.Request, channelID string) {
	if r.Method != http.MethodPost || channelID == "" || strings.Contains(channelID, "/") {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": `use POST /sandbox/statement/{channel} {"ready": bool}`})
		return
	}
	var body struct {
		Ready *bool `json:"ready"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<10)).Decode(&body); err != nil || body.Ready == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `body: {"ready": bool}`})
		return
	}
	err := s.SetStatementReady(channelID, *body.Ready)
	switch {
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"channel": channelID, "ready": *body.Ready})
	}
}
