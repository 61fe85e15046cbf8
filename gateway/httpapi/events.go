package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/paygate/paygate/gateway/apierr"
	"github.com/paygate/paygate/store"
)

// EventView is a merchant event and its delivery record.
type EventView struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Sequence    int64           `json:"sequence,omitempty"` // the order's events counted from 1
	Status      string          `json:"status"`
	URL         string          `json:"url"`
	Attempts    int             `json:"attempts"`
	NextTryAt   *time.Time      `json:"next_try_at"`
	LastError   string          `json:"last_error,omitempty"`
	DeliveredAt *time.Time      `json:"delivered_at"`
	CreatedAt   time.Time       `json:"created_at"`
	Payload     json.RawMessage `json:"payload"`
	History     []AttemptView   `json:"history,omitempty"`
}

// AttemptView is one delivery attempt.
type AttemptView struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code"`
	LatencyMS  int64     `json:"latency_ms"`
	Error      string    `json:"error,omitempty"`
}

func viewEvent(e *store.MerchantEvent, attempts []store.EventAttempt) EventView {
	v := EventView{ID: e.ID, Type: e.Type, Sequence: e.Sequence, Status: e.Status, URL: e.URL, Attempts: e.Attempts, LastError: e.LastError,
		DeliveredAt: e.DeliveredAt, CreatedAt: e.CreatedAt.UTC(), Payload: json.RawMessage(e.Payload)}
	if e.Status == store.EventPending {
		t := e.NextTryAt.UTC().Truncate(time.Millisecond)
		v.NextTryAt = &t
	}
	for _, a := range attempts {
		v.History = append(v.History, AttemptView{At: a.At.UTC(), StatusCode: a.StatusCode, LatencyMS: a.LatencyMS, Error: a.Error})
	}
	return v
}

func (a *API) listEvents(c *gin.Context) {
	status := c.Query("status")
	switch status {
	case "", store.EventPending, store.EventDelivered, store.EventFailed:
	default:
		a.fail(c, apierr.Invalid("status", "must be pending, delivered or failed"))
		return
	}
	limit := 50
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			a.fail(c, apierr.Invalid("limit", "must be 1..500"))
			return
		}
		limit = n
	}
	ctx := c.Request.Context()
	orderID := ""
	if no := c.Query("out_trade_no"); no != "" {
		o, err := a.svc.Get(ctx, keyOf(c).MerchantID, no)
		if err != nil {
			a.fail(c, err)
			return
		}
		orderID = o.ID
	}
	events, err := a.svc.Events(ctx, keyOf(c).MerchantID, orderID, status, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	data := make([]EventView, 0, len(events))
	for i := range events {
		data = append(data, viewEvent(&events[i], nil))
	}
	c.JSON(http.StatusOK, gin.H{"data": data, "next_cursor": nil})
}

func (a *API) getEvent(c *gin.Context) {
	e, attempts, err := a.svc.Event(c.Request.Context(), keyOf(c).MerchantID, c.Param("id"))
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewEvent(e, attempts))
}

func (a *API) redeliverEvent(c *gin.Context) {
	e, err := a.svc.Redeliver(c.Request.Context(), keyOf(c).MerchantID, c.Param("id"))
	if err != nil {
		a.fail(c, err)
		return
	}
	if a.Kick != nil {
		a.Kick()
	}
	c.JSON(http.StatusAccepted, viewEvent(e, nil))
}
