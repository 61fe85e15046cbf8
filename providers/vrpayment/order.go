package vrpayment

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/paygate/paygate/providers"
)

// lineItemCreate is wallee's LineItemCreate. Amounts are JSON numbers in
// major units, written from the decimal string (never through float64).
type lineItemCreate struct {
	UniqueID           string      `json:"uniqueId"`
	Name               string      `json:"name"`
	Quantity           json.Number `json:"quantity"`
	AmountIncludingTax json.Number `json:"amountIncludingTax"`
	Type               string      `json:"type"`
}

// transactionCreate is wallee's TransactionCreate (the fields we set).
type transactionCreate struct {
	Currency                string            `json:"currency"`
	LineItems               []lineItemCreate  `json:"lineItems"`
	MerchantReference       string            `json:"merchantReference"`
	SuccessURL              string            `json:"successUrl,omitempty"`
	FailedURL               string            `json:"failedUrl,omitempty"`
	AutoConfirmationEnabled bool              `json:"autoConfirmationEnabled"`
	MetaData                map[string]string `json:"metaData,omitempty"`
}

// lineItemNameMax is LineItemCreate.name's length limit.
const lineItemNameMax = 150

// CreateOrder creates the transaction (POST /api/transaction/create), then
// asks for its payment page URL (GET /api/transaction/buildPaymentPageUrl).
// The transaction id is the provider's number. The order's expiry is not
// sent (TransactionCreate has no field for it): the poller voids the
// transaction at expiry. If the second call fails, the error is returned
// and the created transaction stays unpaid at VR Payment (harmless: it is
// never shown to a payer).
func (p *Adapter) CreateOrder(ctx context.Context, req providers.CreateOrderRequest) (providers.CreateOrderResult, error) {
	if req.Amount.Currency != p.currency {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "", "this VR Payment channel takes %s, not %s", p.currency, req.Amount.Currency)
	}
	method := providers.FirstNonEmpty(req.PayMethod, providers.PayMethodWeChat)
	if !slices.Contains(payMethods, method) {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "", "VR Payment channel offers %v, not %q", payMethods, method)
	}
	name := providers.FirstNonEmpty(strings.TrimSpace(req.Description), req.OutTradeNo)
	body := transactionCreate{
		Currency: req.Amount.Currency,
		LineItems: []lineItemCreate{{
			UniqueID:           req.OutTradeNo,
			Name:               truncate(name, lineItemNameMax),
			Quantity:           "1",
			AmountIncludingTax: json.Number(providers.FormatMinor(req.Amount.Minor, req.Amount.Currency)),
			Type:               "PRODUCT",
		}},
		MerchantReference:       req.OutTradeNo,
		SuccessURL:              req.ReturnURL,
		FailedURL:               req.ReturnURL,
		AutoConfirmationEnabled: true,
		MetaData:                map[string]string{"out_trade_no": req.OutTradeNo, "pay_method": method},
	}
	raw, err := p.do(ctx, http.MethodPost, pathTransactionCreate, p.query(""), body)
	if err != nil {
		return providers.CreateOrderResult{}, err
	}
	var tx transaction
	if err := json.Unmarshal(raw, &tx); err != nil || !idPattern.MatchString(tx.ID.String()) {
		return providers.CreateOrderResult{}, providers.BadResponse("transaction/create answer has no transaction id")
	}
	id := tx.ID.String()
	raw, err = p.do(ctx, http.MethodGet, pathPaymentPageURL, p.query(id), nil)
	if err != nil {
		return providers.CreateOrderResult{}, err
	}
	pageURL := jsonString(raw)
	if !strings.HasPrefix(pageURL, "https://") && !strings.HasPrefix(pageURL, "http://") {
		return providers.CreateOrderResult{}, providers.BadResponse("buildPaymentPageUrl answer is not a URL")
	}
	return providers.CreateOrderResult{ProviderTradeNo: id, PayURL: pageURL}, nil
}

// jsonString reads an answer that is a JSON string (the SDK also accepts
// the bare text).
func jsonString(raw []byte) string {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return strings.TrimSpace(s)
	}
	return strings.TrimSpace(string(raw))
}

func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max])
}

// QueryOrder reads the transaction: by id when the provider's number is
// known, else by searching for our merchantReference.
func (p *Adapter) QueryOrder(ctx context.Context, ref providers.OrderRef) (providers.OrderState, error) {
	tx, err := p.findTransaction(ctx, ref)
	if err != nil {
		return providers.OrderState{}, err
	}
	return p.orderState(tx, ref)
}

// findTransaction reads a transaction by id (ProviderTradeNo) or, without
// it, by merchantReference (findByReference).
func (p *Adapter) findTransaction(ctx context.Context, ref providers.OrderRef) (transaction, error) {
	switch {
	case ref.ProviderTradeNo != "":
		if !idPattern.MatchString(ref.ProviderTradeNo) {
			// Not a VR Payment transaction id: no such transaction.
			return transaction{}, providers.Errorf(providers.ErrCodeNotFound, "", "%q is not a VR Payment transaction id", ref.ProviderTradeNo)
		}
		raw, err := p.do(ctx, http.MethodGet, pathTransactionRead, p.query(ref.ProviderTradeNo), nil)
		if err != nil {
			return transaction{}, err
		}
		var tx transaction
		if err := json.Unmarshal(raw, &tx); err != nil || tx.ID == "" {
			return transaction{}, providers.BadResponse("transaction/read answer is not a transaction")
		}
		return tx, nil
	case ref.OutTradeNo != "":
		return p.findByReference(ctx, ref.OutTradeNo)
	default:
		return transaction{}, providers.Errorf(providers.ErrCodeRejected, "", "VR Payment needs the transaction id or out_trade_no")
	}
}

// entityQuery is wallee's EntityQuery (php-sdk Model/EntityQuery,
// EntityQueryFilter, EntityQueryOrderBy).
type entityQuery struct {
	Filter           entityFilter    `json:"filter"`
	NumberOfEntities int             `json:"numberOfEntities"`
	OrderBys         []entityOrderBy `json:"orderBys,omitempty"`
}

type entityFilter struct {
	Type      string `json:"type"`
	FieldName string `json:"fieldName"`
	Operator  string `json:"operator"`
	Value     string `json:"value"`
}

type entityOrderBy struct {
	FieldName string `json:"fieldName"`
	Sorting   string `json:"sorting"`
}

// equalsQuery is a one-leaf "field EQUALS value" query, newest first.
// UNCONFIRMED: that merchantReference (transactions) and externalId
// (refunds) are searchable fields; the EntityQuery shape itself is the
// SDK's.
func equalsQuery(field, value string) entityQuery {
	return entityQuery{
		Filter:           entityFilter{Type: "LEAF", FieldName: field, Operator: "EQUALS", Value: value},
		NumberOfEntities: 20,
		OrderBys:         []entityOrderBy{{FieldName: "createdOn", Sorting: "DESC"}},
	}
}

// findByReference searches the space's transactions whose merchantReference
// is our out_trade_no (POST /api/transaction/search). A retried create may
// have left several: a paid one wins, else the newest.
func (p *Adapter) findByReference(ctx context.Context, outTradeNo string) (transaction, error) {
	raw, err := p.do(ctx, http.MethodPost, pathTransactionSearch, p.query(""), equalsQuery("merchantReference", outTradeNo))
	if err != nil {
		return transaction{}, err
	}
	var txs []transaction
	if err := json.Unmarshal(raw, &txs); err != nil {
		return transaction{}, providers.BadResponse("transaction/search answer is not a list")
	}
	var best *transaction
	for i := range txs {
		tx := &txs[i]
		if tx.MerchantReference != outTradeNo {
			continue
		}
		if mapTransactionState(tx.State) == providers.OrderPaid {
			return *tx, nil
		}
		if best == nil {
			best = tx // newest first
		}
	}
	if best == nil {
		return transaction{}, providers.Errorf(providers.ErrCodeNotFound, "", "no VR Payment transaction with merchantReference %q", outTradeNo)
	}
	return *best, nil
}

// transactionVoid is the part of wallee's TransactionVoid we read.
type transactionVoid struct {
	ID    json.Number `json:"id"`
	State string      `json:"state"` // CREATE | PENDING | SUCCESSFUL | FAILED
}

// CloseOrder voids the transaction online (POST
// /api/transaction-void/voidOnline). It reads the transaction first: a
// paid one answers ORDER_PAID, a voided one is already closed (nil), a
// failed or declined one ORDER_CLOSED. UNCONFIRMED: whether VR Payment
// accepts a void before the transaction is AUTHORIZED; if it refuses, the
// 442 maps to PROVIDER_REJECTED and the unpaid transaction times out at
// VR Payment on its own.
func (p *Adapter) CloseOrder(ctx context.Context, ref providers.OrderRef) error {
	tx, err := p.findTransaction(ctx, ref)
	if err != nil {
		return err
	}
	status := mapTransactionState(tx.State)
	switch {
	case status == providers.OrderUnknown:
		// It might be paid: never void on a word the adapter does not know.
		return providers.Errorf(providers.ErrCodeUnavailable, providers.Clip(tx.State, 64), "transaction %s is in state %q, unknown to the adapter; not voided", tx.ID, providers.Clip(tx.State, 64))
	case status == providers.OrderPaid:
		return providers.Errorf(providers.ErrCodeOrderPaid, tx.State, "transaction %s is paid", tx.ID)
	case status == providers.OrderClosed:
		return nil
	case status == providers.OrderFailed:
		return providers.Errorf(providers.ErrCodeOrderClosed, tx.State, "transaction %s already ended", tx.ID)
	}
	raw, err := p.do(ctx, http.MethodPost, pathVoidOnline, p.query(tx.ID.String()), nil)
	if err != nil {
		return err
	}
	var v transactionVoid
	if err := json.Unmarshal(raw, &v); err != nil {
		return providers.BadResponse("voidOnline answer is not a transaction void")
	}
	if v.State == "FAILED" {
		return providers.Errorf(providers.ErrCodeRejected, v.State, "VR Payment could not void transaction %s", tx.ID)
	}
	return nil
}
