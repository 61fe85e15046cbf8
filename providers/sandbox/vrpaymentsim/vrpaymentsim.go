// Package vrpaymentsim simulates VR Payment's API (the wallee platform, API
// v1) for the sandbox: transaction create / buildPaymentPageUrl / read /
// search, transaction-void voidOnline, refund / refund read / refund
// search, and a hosted payment page. Every API call must carry valid
// x-mac-* headers, checked with the simulator's own HMAC-SHA512 code and a
// timestamp window.
//
// Like VR Payment in the mini-program flow, it sends no callback when the
// payer pays: the gateway's poller must find the payment. A webhook hint
// can be switched on with EnableWebhooks (off by default).
package vrpaymentsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
)

// Kind is the provider kind simulated.
const Kind = "vr_payment"

// MaxSkew is the x-mac-timestamp window (our choice; VR Payment's is not
// public).
const MaxSkew = 5 * time.Minute

// RefundDelay is how long a refund stays PENDING before it is SUCCESSFUL.
var RefundDelay = 100 * time.Millisecond

// TransactionEntityID is wallee's listener entity id of Transaction.
const TransactionEntityID int64 = 1472041829003

func init() {
	sandbox.Register(Kind, func(env sandbox.Env) sandbox.Simulator { return New(env) })
}

type channel struct {
	id, userID, secret, currency, notifyURL string
	spaceID                                 int64
}

// Transaction is the simulator's transaction, serialised like wallee's.
type Transaction struct {
	ID                      int64             `json:"id"`
	Version                 int               `json:"version"`
	LinkedSpaceID           int64             `json:"linkedSpaceId"`
	State                   string            `json:"state"`
	MerchantReference       string            `json:"merchantReference"`
	Currency                string            `json:"currency"`
	LineItems               []json.RawMessage `json:"lineItems"`
	AuthorizationAmount     json.Number       `json:"authorizationAmount"`
	CompletedAmount         json.Number       `json:"completedAmount,omitempty"`
	RefundedAmount          json.Number       `json:"refundedAmount"`
	SuccessURL              string            `json:"successUrl,omitempty"`
	FailedURL               string            `json:"failedUrl,omitempty"`
	AutoConfirmationEnabled bool              `json:"autoConfirmationEnabled"`
	MetaData                map[string]string `json:"metaData,omitempty"`
	CreatedOn               string            `json:"createdOn"`
	AuthorizedOn            string            `json:"authorizedOn,omitempty"`
	CompletedOn             string            `json:"completedOn,omitempty"`

	channelID string
	minor     int64
	created   time.Time
	token     string
}

// Refund is the simulator's refund, serialised like wallee's.
type Refund struct {
	ID                int64           `json:"id"`
	Version           int             `json:"version"`
	LinkedSpaceID     int64           `json:"linkedSpaceId"`
	State             string          `json:"state"`
	ExternalID        string          `json:"externalId"`
	Type              string          `json:"type"`
	Amount            json.Number     `json:"amount"`
	MerchantReference string          `json:"merchantReference,omitempty"`
	Transaction       json.RawMessage `json:"transaction"`
	CreatedOn         string          `json:"createdOn"`
	SucceededOn       string          `json:"succeededOn,omitempty"`

	minor   int64
	txID    int64
	created time.Time
}

// Sim is the VR Payment simulator.
type Sim struct {
	env      sandbox.Env
	mu       sync.Mutex
	byUser   map[string]*channel
	byID     map[string]*channel
	txs      map[int64]*Transaction
	refunds  map[int64]*Refund
	nextID   int64
	webhooks bool
}

// New builds an empty simulator.
func New(env sandbox.Env) *Sim {
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Client == nil {
		env.Client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Sim{
		env: env, byUser: map[string]*channel{}, byID: map[string]*channel{},
		txs: map[int64]*Transaction{}, refunds: map[int64]*Refund{},
		nextID: 310_000_000 + rand.Int64N(9_000_000),
	}
}

// EnableWebhooks makes Pay send a webhook hint (Transaction entity) to the
// channel's notify URL, as a space with a webhook listener would. Off by
// default: VR Payment's mini-program flow is poll-only.
func (s *Sim) EnableWebhooks(on bool) {
	s.mu.Lock()
	s.webhooks = on
	s.mu.Unlock()
}

// Kind implements sandbox.Simulator.
func (s *Sim) Kind() string { return Kind }

// AddChannel registers an application user (params user_id, secret,
// space_id).
func (s *Sim) AddChannel(ch providers.Channel) error {
	user, secret, space := ch.Params.String("user_id"), ch.Params.String("secret"), ch.Params.String("space_id")
	spaceID, err := strconv.ParseInt(space, 10, 64)
	if user == "" || secret == "" || err != nil {
		return fmt.Errorf("params user_id, secret and a numeric space_id are required")
	}
	if _, err := MAC(secret, user, "0", "GET", "/"); err != nil {
		return err
	}
	cur := ch.Currency
	if cur == "" {
		cur = "EUR"
	}
	c := &channel{id: ch.ID, userID: user, secret: secret, currency: cur, notifyURL: ch.NotifyURL, spaceID: spaceID}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byUser[user] = c
	s.byID[ch.ID] = c
	return nil
}

// Handler serves the API under /api and the payment page under /s/.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	api := func(method, path string, h func(http.ResponseWriter, *http.Request, *channel)) {
		mux.HandleFunc(method+" /api"+path, func(w http.ResponseWriter, r *http.Request) {
			ch, msg := s.authenticate(r)
			if ch == nil {
				clientError(w, http.StatusUnauthorized, "DEVELOPER_ERROR", "Authentication failed: "+msg)
				return
			}
			if r.URL.Query().Get("spaceId") != strconv.FormatInt(ch.spaceID, 10) {
				clientError(w, 442, "DEVELOPER_ERROR", "Permission denied: the application user may not access space "+r.URL.Query().Get("spaceId"))
				return
			}
			h(w, r, ch)
		})
	}
	api(http.MethodPost, "/transaction/create", s.createTransaction)
	api(http.MethodGet, "/transaction/buildPaymentPageUrl", s.paymentPageURL)
	api(http.MethodGet, "/transaction/read", s.readTransaction)
	api(http.MethodPost, "/transaction/search", s.searchTransactions)
	api(http.MethodPost, "/transaction-void/voidOnline", s.voidOnline)
	api(http.MethodPost, "/refund/refund", s.createRefund)
	api(http.MethodGet, "/refund/read", s.readRefund)
	api(http.MethodPost, "/refund/search", s.searchRefunds)
	mux.HandleFunc("GET /s/{space}/payment/transaction/pay", s.servePage)
	mux.HandleFunc("POST /s/{space}/payment/transaction/pay", s.servePage)
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// clientError answers wallee's ClientError shape.
func clientError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, map[string]any{
		"id": fmt.Sprintf("%08x-sandbox", rand.Uint32()), "date": time.Now().UTC().Format(time.RFC3339),
		"message": msg, "defaultMessage": msg, "type": typ,
	})
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// isJSONNumber reports whether raw is a JSON number literal (not a
// string): wallee amounts are JSON numbers.
func isJSONNumber(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s != "" && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'))
}

// decodeFields decodes a JSON object body field by field, refusing trailing data.
func decodeFields(r *http.Request) (map[string]json.RawMessage, error) {
	var f map[string]json.RawMessage
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&f); err != nil || f == nil {
		return nil, errors.New("the body must be a JSON object")
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	return f, nil
}

func str(f map[string]json.RawMessage, k string) string {
	var s string
	_ = json.Unmarshal(f[k], &s)
	return s
}

func (s *Sim) createTransaction(w http.ResponseWriter, r *http.Request, ch *channel) {
	f, err := decodeFields(r)
	if err != nil {
		clientError(w, 442, "DEVELOPER_ERROR", err.Error())
		return
	}
	cur := str(f, "currency")
	if cur != ch.currency {
		clientError(w, 442, "CONFIGURATION_ERROR", "The currency "+cur+" is not enabled in this space.")
		return
	}
	ref := str(f, "merchantReference")
	if len(ref) > 100 {
		clientError(w, 442, "DEVELOPER_ERROR", "merchantReference is longer than 100 characters")
		return
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(f["lineItems"], &items); err != nil || len(items) == 0 {
		clientError(w, 442, "DEVELOPER_ERROR", "lineItems must be a non-empty list")
		return
	}
	total := decimal.Zero
	for _, it := range items {
		if str(it, "uniqueId") == "" || str(it, "name") == "" || str(it, "type") == "" {
			clientError(w, 442, "DEVELOPER_ERROR", "a line item needs uniqueId, name and type")
			return
		}
		if !isJSONNumber(it["amountIncludingTax"]) || !isJSONNumber(it["quantity"]) {
			clientError(w, 442, "DEVELOPER_ERROR", "amountIncludingTax and quantity must be JSON numbers")
			return
		}
		amt, err1 := decimal.NewFromString(string(it["amountIncludingTax"]))
		qty, err2 := decimal.NewFromString(string(it["quantity"]))
		if err1 != nil || err2 != nil || !amt.IsPositive() || !qty.IsPositive() {
			clientError(w, 442, "DEVELOPER_ERROR", "invalid line item amount or quantity")
			return
		}
		total = total.Add(amt.Mul(qty))
	}
	m, err := providers.FromDecimal(total, cur)
	if err != nil {
		clientError(w, 442, "DEVELOPER_ERROR", "the line items' total does not fit the currency: "+err.Error())
		return
	}
	var meta map[string]string
	_ = json.Unmarshal(f["metaData"], &meta)
	var auto bool
	_ = json.Unmarshal(f["autoConfirmationEnabled"], &auto)
	rawItems := make([]json.RawMessage, 0, len(items))
	_ = json.Unmarshal(f["lineItems"], &rawItems)
	now := s.env.Now()
	s.mu.Lock()
	s.nextID++
	tx := &Transaction{
		ID: s.nextID, Version: 1, LinkedSpaceID: ch.spaceID, State: "PENDING", MerchantReference: ref, Currency: cur,
		LineItems: rawItems, AuthorizationAmount: json.Number(providers.FormatMinor(m.Minor, cur)), RefundedAmount: "0",
		SuccessURL: str(f, "successUrl"), FailedURL: str(f, "failedUrl"), AutoConfirmationEnabled: auto, MetaData: meta,
		CreatedOn: stamp(now), channelID: ch.id, minor: m.Minor, created: now, token: fmt.Sprintf("%016x", rand.Uint64()),
	}
	s.txs[tx.ID] = tx
	view := *tx
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, view)
}

// transaction returns the channel's transaction named by the id query
// parameter, or answers the error.
func (s *Sim) transaction(w http.ResponseWriter, r *http.Request, ch *channel) *Transaction {
	id, err := strconv.ParseInt(r.URL.Query().Get("id"), 10, 64)
	if err != nil {
		clientError(w, 442, "DEVELOPER_ERROR", "id must be a number")
		return nil
	}
	s.mu.Lock()
	tx := s.txs[id]
	s.mu.Unlock()
	if tx == nil || tx.LinkedSpaceID != ch.spaceID {
		clientError(w, 442, "DEVELOPER_ERROR", fmt.Sprintf("The entity with id %d does not exist.", id))
		return nil
	}
	return tx
}

func (s *Sim) paymentPageURL(w http.ResponseWriter, r *http.Request, ch *channel) {
	tx := s.transaction(w, r, ch)
	if tx == nil {
		return
	}
	q := url.Values{"securityToken": {tx.token}, "transactionId": {strconv.FormatInt(tx.ID, 10)}}
	writeJSON(w, http.StatusOK, fmt.Sprintf("%s/s/%d/payment/transaction/pay?%s", baseURL(r), ch.spaceID, q.Encode()))
}

func (s *Sim) readTransaction(w http.ResponseWriter, r *http.Request, ch *channel) {
	tx := s.transaction(w, r, ch)
	if tx == nil {
		return
	}
	s.mu.Lock()
	s.settleRefunds()
	view := *tx
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, view)
}

// entityQuery is the EntityQuery body of the search endpoints (one LEAF
// filter with EQUALS is what the simulator understands).
type entityQuery struct {
	Filter *struct {
		Type      string          `json:"type"`
		FieldName string          `json:"fieldName"`
		Operator  string          `json:"operator"`
		Value     json.RawMessage `json:"value"`
	} `json:"filter"`
	NumberOfEntities int `json:"numberOfEntities"`
	OrderBys         []struct {
		FieldName string `json:"fieldName"`
		Sorting   string `json:"sorting"`
	} `json:"orderBys"`
}

func readQuery(w http.ResponseWriter, r *http.Request, fields ...string) (q entityQuery, value string, ok bool) {
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		clientError(w, 442, "DEVELOPER_ERROR", "the body must be an EntityQuery")
		return q, "", false
	}
	if q.Filter == nil || q.Filter.Type != "LEAF" || q.Filter.Operator != "EQUALS" {
		clientError(w, 442, "DEVELOPER_ERROR", "sandbox: only a LEAF filter with operator EQUALS is simulated")
		return q, "", false
	}
	known := false
	for _, f := range fields {
		known = known || f == q.Filter.FieldName
	}
	if !known {
		clientError(w, 442, "DEVELOPER_ERROR", "sandbox: cannot filter on "+q.Filter.FieldName)
		return q, "", false
	}
	if err := json.Unmarshal(q.Filter.Value, &value); err != nil {
		value = strings.TrimSpace(string(q.Filter.Value))
	}
	if q.NumberOfEntities <= 0 || q.NumberOfEntities > 100 {
		q.NumberOfEntities = 100
	}
	return q, value, true
}

// newestFirst reports whether the query asks for createdOn/id DESC (the
// default order is ascending id).
func newestFirst(q entityQuery) bool {
	for _, o := range q.OrderBys {
		if o.FieldName == "createdOn" || o.FieldName == "id" {
			return o.Sorting == "DESC"
		}
	}
	return false
}

func (s *Sim) searchTransactions(w http.ResponseWriter, r *http.Request, ch *channel) {
	if s.searchTransactionRange(w, r, ch) {
		return
	}
	q, value, ok := readQuery(w, r, "merchantReference", "state", "id")
	if !ok {
		return
	}
	s.mu.Lock()
	s.settleRefunds()
	var out []Transaction
	for _, tx := range s.txs {
		if tx.LinkedSpaceID != ch.spaceID {
			continue
		}
		var v string
		switch q.Filter.FieldName {
		case "merchantReference":
			v = tx.MerchantReference
		case "state":
			v = tx.State
		case "id":
			v = strconv.FormatInt(tx.ID, 10)
		}
		if v == value {
			out = append(out, *tx)
		}
	}
	s.mu.Unlock()
	desc := newestFirst(q)
	sort.Slice(out, func(i, j int) bool { return (out[i].ID > out[j].ID) == desc })
	if len(out) > q.NumberOfEntities {
		out = out[:q.NumberOfEntities]
	}
	if out == nil {
		out = []Transaction{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) voidOnline(w http.ResponseWriter, r *http.Request, ch *channel) {
	tx := s.transaction(w, r, ch)
	if tx == nil {
		return
	}
	s.mu.Lock()
	state := tx.State
	switch state {
	case "CREATE", "PENDING", "CONFIRMED", "PROCESSING", "AUTHORIZED":
		// Permissive: VR Payment may void only AUTHORIZED transactions.
		tx.State = "VOIDED"
		tx.Version++
	}
	s.nextID++
	voidID := s.nextID
	view := *tx
	s.mu.Unlock()
	if view.State != "VOIDED" || state == "VOIDED" {
		clientError(w, 442, "END_USER_ERROR", fmt.Sprintf("The transaction in state %s cannot be voided.", state))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": voidID, "state": "SUCCESSFUL", "linkedSpaceId": ch.spaceID, "mode": "ONLINE",
		"createdOn": stamp(s.env.Now()), "transaction": view,
	})
}

func (s *Sim) createRefund(w http.ResponseWriter, r *http.Request, ch *channel) {
	f, err := decodeFields(r)
	if err != nil {
		clientError(w, 442, "DEVELOPER_ERROR", err.Error())
		return
	}
	ext := str(f, "externalId")
	if ext == "" || len(ext) > 100 {
		clientError(w, 442, "DEVELOPER_ERROR", "externalId is required (1 to 100 characters)")
		return
	}
	switch str(f, "type") {
	case "MERCHANT_INITIATED_ONLINE", "MERCHANT_INITIATED_OFFLINE", "CUSTOMER_INITIATED_AUTOMATIC", "CUSTOMER_INITIATED_MANUAL":
	default:
		clientError(w, 442, "DEVELOPER_ERROR", "type is required")
		return
	}
	if len(str(f, "merchantReference")) > 100 {
		clientError(w, 442, "DEVELOPER_ERROR", "merchantReference is longer than 100 characters")
		return
	}
	if !isJSONNumber(f["amount"]) || !isJSONNumber(f["transaction"]) {
		clientError(w, 442, "DEVELOPER_ERROR", "amount and transaction must be JSON numbers")
		return
	}
	txID, err := strconv.ParseInt(strings.TrimSpace(string(f["transaction"])), 10, 64)
	if err != nil {
		clientError(w, 442, "DEVELOPER_ERROR", "transaction must be a transaction id")
		return
	}
	amt, err := decimal.NewFromString(string(f["amount"]))
	if err != nil || !amt.IsPositive() {
		clientError(w, 442, "DEVELOPER_ERROR", "amount must be positive")
		return
	}
	now := s.env.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleRefunds()
	for _, rf := range s.refunds {
		if rf.LinkedSpaceID == ch.spaceID && rf.ExternalID == ext { // idempotent on externalId
			writeJSON(w, http.StatusOK, *rf)
			return
		}
	}
	tx := s.txs[txID]
	if tx == nil || tx.LinkedSpaceID != ch.spaceID {
		clientError(w, 442, "DEVELOPER_ERROR", fmt.Sprintf("The entity with id %d does not exist.", txID))
		return
	}
	if tx.State != "FULFILL" && tx.State != "COMPLETED" {
		clientError(w, 442, "END_USER_ERROR", "The transaction in state "+tx.State+" cannot be refunded.")
		return
	}
	m, err := providers.FromDecimal(amt, tx.Currency)
	if err != nil {
		clientError(w, 442, "DEVELOPER_ERROR", "amount: "+err.Error())
		return
	}
	var booked int64
	for _, rf := range s.refunds {
		if rf.txID == tx.ID && rf.State != "FAILED" {
			booked += rf.minor
		}
	}
	if booked+m.Minor > tx.minor {
		clientError(w, 442, "END_USER_ERROR", "The refund amount exceeds the refundable amount of the transaction.")
		return
	}
	s.nextID++
	txView, _ := json.Marshal(tx)
	rf := &Refund{
		ID: s.nextID, Version: 1, LinkedSpaceID: ch.spaceID, State: "PENDING", ExternalID: ext, Type: str(f, "type"),
		Amount: json.Number(providers.FormatMinor(m.Minor, tx.Currency)), MerchantReference: str(f, "merchantReference"),
		Transaction: txView, CreatedOn: stamp(now), minor: m.Minor, txID: tx.ID, created: now,
	}
	s.refunds[rf.ID] = rf
	writeJSON(w, http.StatusOK, *rf)
}

// settleRefunds completes refunds older than RefundDelay. Caller holds mu.
func (s *Sim) settleRefunds() {
	now := s.env.Now()
	for _, rf := range s.refunds {
		if rf.State != "PENDING" || now.Sub(rf.created) < RefundDelay {
			continue
		}
		rf.State = "SUCCESSFUL"
		rf.Version++
		rf.SucceededOn = stamp(now)
		if tx := s.txs[rf.txID]; tx != nil {
			exp, _ := providers.CurrencyExponent(tx.Currency)
			refunded, _ := decimal.NewFromString(tx.RefundedAmount.String())
			tx.RefundedAmount = json.Number(refunded.Add(decimal.RequireFromString(rf.Amount.String())).StringFixed(exp))
			tx.Version++
		}
	}
}

func (s *Sim) readRefund(w http.ResponseWriter, r *http.Request, ch *channel) {
	id, err := strconv.ParseInt(r.URL.Query().Get("id"), 10, 64)
	if err != nil {
		clientError(w, 442, "DEVELOPER_ERROR", "id must be a number")
		return
	}
	s.mu.Lock()
	s.settleRefunds()
	rf := s.refunds[id]
	var view Refund
	if rf != nil {
		view = *rf
	}
	s.mu.Unlock()
	if rf == nil || rf.LinkedSpaceID != ch.spaceID {
		clientError(w, 442, "DEVELOPER_ERROR", fmt.Sprintf("The entity with id %d does not exist.", id))
		return
	}
	writeJSON(w, http.StatusOK, view)
}

func (s *Sim) searchRefunds(w http.ResponseWriter, r *http.Request, ch *channel) {
	if s.searchRefundRange(w, r, ch) {
		return
	}
	q, value, ok := readQuery(w, r, "externalId", "merchantReference")
	if !ok {
		return
	}
	s.mu.Lock()
	s.settleRefunds()
	out := []Refund{}
	for _, rf := range s.refunds {
		v := rf.ExternalID
		if q.Filter.FieldName == "merchantReference" {
			v = rf.MerchantReference
		}
		if rf.LinkedSpaceID == ch.spaceID && v == value {
			out = append(out, *rf)
		}
	}
	s.mu.Unlock()
	desc := newestFirst(q)
	sort.Slice(out, func(i, j int) bool { return (out[i].ID > out[j].ID) == desc })
	if len(out) > q.NumberOfEntities {
		out = out[:q.NumberOfEntities]
	}
	writeJSON(w, http.StatusOK, out)
}

// servePage is the hosted payment page: GET shows the transaction, POST
// pays it as the simulated payer.
func (s *Sim) servePage(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.URL.Query().Get("transactionId"), 10, 64)
	s.mu.Lock()
	tx := s.txs[id]
	s.mu.Unlock()
	if tx == nil || r.URL.Query().Get("securityToken") != tx.token || r.PathValue("space") != strconv.FormatInt(tx.LinkedSpaceID, 10) {
		http.NotFound(w, r)
		return
	}
	note := ""
	if r.Method == http.MethodPost {
		if _, err := s.pay(r.Context(), tx, sandbox.PayOptions{}); err != nil {
			note = err.Error()
		} else {
			note = "paid"
		}
	}
	s.mu.Lock()
	view := *tx
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><meta charset="utf-8"><title>VR Payment sandbox</title>
<h1>VR Payment sandbox</h1><p>%s</p><p>%s %s</p><p>transaction %d: %s</p><p>%s</p>
<form method="post"><button>Pay</button></form>`,
		html.EscapeString(view.MerchantReference), html.EscapeString(view.AuthorizationAmount.String()), html.EscapeString(view.Currency),
		view.ID, html.EscapeString(view.State), html.EscapeString(note))
}

// baseURL is the simulator's root as the client reached it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	reqPath := r.RequestURI
	if i := strings.IndexAny(reqPath, "?#"); i >= 0 {
		reqPath = reqPath[:i]
	}
	return scheme + "://" + r.Host + strings.TrimSuffix(reqPath, r.URL.Path)
}

// PayView is what Pay answers.
type PayView struct {
	Transaction Transaction              `json:"transaction"`
	Deliveries  []sandbox.DeliveryResult `json:"deliveries,omitempty"`
}

// Pay makes the payer pay the channel's newest transaction whose
// merchantReference is outTradeNo: it goes to FULFILL (authorized,
// completed). Nothing is sent unless EnableWebhooks is on.
func (s *Sim) Pay(ctx context.Context, channelID, outTradeNo string, opts sandbox.PayOptions) (any, error) {
	s.mu.Lock()
	var tx *Transaction
	for _, t := range s.txs {
		if t.channelID == channelID && t.MerchantReference == outTradeNo && (tx == nil || t.ID > tx.ID) {
			tx = t
		}
	}
	s.mu.Unlock()
	if tx == nil {
		return nil, fmt.Errorf("%w: %s", sandbox.ErrNotFound, outTradeNo)
	}
	return s.pay(ctx, tx, opts)
}

func (s *Sim) pay(ctx context.Context, tx *Transaction, opts sandbox.PayOptions) (PayView, error) {
	now := s.env.Now()
	s.mu.Lock()
	switch tx.State {
	case "CREATE", "PENDING", "CONFIRMED", "PROCESSING", "AUTHORIZED":
		tx.State = "FULFILL"
		tx.Version++
		tx.AuthorizedOn = stamp(now)
		tx.CompletedOn = stamp(now)
		tx.CompletedAmount = tx.AuthorizationAmount
	case "FULFILL", "COMPLETED":
	default:
		s.mu.Unlock()
		return PayView{}, fmt.Errorf("sandbox: transaction %d is %s", tx.ID, tx.State)
	}
	view := *tx
	ch := s.byID[tx.channelID]
	hooks := s.webhooks
	s.mu.Unlock()
	pv := PayView{Transaction: view}
	if hooks && ch != nil && ch.notifyURL != "" {
		pv.Deliveries = sandbox.Deliver(s.env, opts, func() (*http.Request, error) {
			return s.webhook(ctx, ch, view)
		})
	}
	return pv, nil
}

// webhook builds the webhook hint for a transaction (wallee's body; no
// x-signature header).
func (s *Sim) webhook(ctx context.Context, ch *channel, tx Transaction) (*http.Request, error) {
	s.mu.Lock()
	s.nextID++
	eventID := s.nextID
	s.mu.Unlock()
	body, _ := json.Marshal(map[string]any{
		"eventId": eventID, "entityId": tx.ID, "listenerEntityId": TransactionEntityID,
		"listenerEntityTechnicalName": "Transaction", "spaceId": ch.spaceID, "webhookListenerId": 1,
		"timestamp": s.env.Now().UTC().Format("2006-01-02T15:04:05+0000"),
	})
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, ch.notifyURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}
