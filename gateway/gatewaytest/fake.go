package gatewaytest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/paygate/paygate/providers"
)

// FakeKind is a provider kind for testing the gateway's core apart from
// any real provider: its "provider" is an in-memory book the test
// controls, and its notifications are JSON signed with HMAC-SHA256 over
// out_trade_no|status|amount|currency|transaction_id with params.key.
const FakeKind = "test_fake"

func init() {
	providers.Register(FakeKind, func(ch providers.Channel, _ providers.Deps) (providers.Provider, error) {
		if err := ch.Params.Require("key", "account"); err != nil {
			return nil, err
		}
		fakeMu.Lock()
		defer fakeMu.Unlock()
		b := &FakeBook{orders: map[string]*providers.OrderState{}, refunds: map[string]*providers.RefundState{}}
		fakeBooks[ch.ID] = b
		return &fake{ch: ch, book: b}, nil
	})
}

var (
	fakeMu    sync.Mutex
	fakeBooks = map[string]*FakeBook{}
)

// Book returns the fake provider's book of a channel.
func Book(channelID string) *FakeBook {
	fakeMu.Lock()
	defer fakeMu.Unlock()
	return fakeBooks[channelID]
}

// FakeBook is the fake provider's state, which a test steers.
type FakeBook struct {
	mu      sync.Mutex
	orders  map[string]*providers.OrderState
	refunds map[string]*providers.RefundState
	// CreateErr, when set, is what CreateOrder answers.
	CreateErr error
	// RefundErr, when set, is what Refund answers.
	RefundErr error
	// RefundStatus is what Refund answers (default SUCCEEDED).
	RefundStatus providers.RefundStatus
	Calls        map[string]int
}

func (b *FakeBook) call(op string) {
	if b.Calls == nil {
		b.Calls = map[string]int{}
	}
	b.Calls[op]++
}

// CallCount returns how often op was called.
func (b *FakeBook) CallCount(op string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Calls[op]
}

// SetErrors sets CreateErr and RefundErr.
func (b *FakeBook) SetErrors(create, refund error) {
	b.mu.Lock()
	b.CreateErr, b.RefundErr = create, refund
	b.mu.Unlock()
}

// MarkPaid makes the provider's order paid (as a payer would) without
// notifying; it returns the transaction id.
func (b *FakeBook) MarkPaid(outTradeNo string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	o := b.orders[outTradeNo]
	o.Status = providers.OrderPaid
	o.TransactionID = "4200000000" + fmt.Sprint(time.Now().UnixNano())
	o.PaidAt = time.Now()
	return o.TransactionID
}

type fake struct {
	ch   providers.Channel
	book *FakeBook
}

func (f *fake) Kind() string { return FakeKind }

func (f *fake) Capabilities() providers.Capabilities {
	return providers.Capabilities{
		Notify: f.ch.Params.String("notify") != "false", RefundNotify: false,
		Query: true, Close: true, Refund: true, RefundQuery: true,
		Currencies: []string{f.ch.Currency}, PayMethods: []string{"wechat", "alipay"}, RequiresOpenID: true,
		RefundCurrency: f.ch.Params.String("refund_currency"),
	}
}

func (f *fake) CreateOrder(_ context.Context, req providers.CreateOrderRequest) (providers.CreateOrderResult, error) {
	b := f.book
	b.mu.Lock()
	defer b.mu.Unlock()
	b.call("create")
	if b.CreateErr != nil {
		return providers.CreateOrderResult{}, b.CreateErr
	}
	if _, ok := b.orders[req.OutTradeNo]; !ok {
		b.orders[req.OutTradeNo] = &providers.OrderState{Status: providers.OrderPaying, OutTradeNo: req.OutTradeNo, ProviderTradeNo: "FK" + req.OutTradeNo, Amount: req.Amount}
	}
	res := providers.CreateOrderResult{ProviderTradeNo: "FK" + req.OutTradeNo}
	if req.PayMethod == "wechat" {
		res.PayParams = map[string]string{"appId": "wxfake", "timeStamp": "1700000000", "nonceStr": "n", "package": "prepay_id=fk", "signType": "MD5", "paySign": "FAKE"}
	} else {
		res.PayURL = "https://pay.example/" + req.OutTradeNo
	}
	return res, nil
}

func (f *fake) QueryOrder(_ context.Context, ref providers.OrderRef) (providers.OrderState, error) {
	b := f.book
	b.mu.Lock()
	defer b.mu.Unlock()
	b.call("query")
	o, ok := b.orders[ref.OutTradeNo]
	if !ok {
		return providers.OrderState{}, providers.Errorf(providers.ErrCodeNotFound, "ORDERNOTEXIST", "no order")
	}
	return *o, nil
}

func (f *fake) CloseOrder(_ context.Context, ref providers.OrderRef) error {
	b := f.book
	b.mu.Lock()
	defer b.mu.Unlock()
	b.call("close")
	o, ok := b.orders[ref.OutTradeNo]
	if !ok {
		return providers.Errorf(providers.ErrCodeNotFound, "ORDERNOTEXIST", "no order")
	}
	if o.Status == providers.OrderPaid {
		return providers.Errorf(providers.ErrCodeOrderPaid, "ORDERPAID", "paid")
	}
	o.Status = providers.OrderClosed
	return nil
}

func (f *fake) Refund(_ context.Context, req providers.RefundRequest) (providers.RefundState, error) {
	b := f.book
	b.mu.Lock()
	defer b.mu.Unlock()
	b.call("refund")
	if b.RefundErr != nil {
		return providers.RefundState{}, b.RefundErr
	}
	if r, ok := b.refunds[req.OutRefundNo]; ok {
		return *r, nil
	}
	st := b.RefundStatus
	if st == "" {
		st = providers.RefundSucceeded
	}
	r := &providers.RefundState{Status: st, OutRefundNo: req.OutRefundNo, ProviderRefundNo: "FR" + req.OutRefundNo, Amount: req.Amount}
	b.refunds[req.OutRefundNo] = r
	return *r, nil
}

func (f *fake) QueryRefund(_ context.Context, ref providers.RefundRef) (providers.RefundState, error) {
	b := f.book
	b.mu.Lock()
	defer b.mu.Unlock()
	b.call("refundquery")
	r, ok := b.refunds[ref.OutRefundNo]
	if !ok {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeNotFound, "REFUNDNOTEXIST", "no refund")
	}
	return *r, nil
}

// SetRefundStatus changes a refund's status at the fake provider.
func (b *FakeBook) SetRefundStatus(outRefundNo string, st providers.RefundStatus) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refunds[outRefundNo].Status = st
}

// FakeNotification is the body of a fake provider notification.
type FakeNotification struct {
	Account       string `json:"account"`
	OutTradeNo    string `json:"out_trade_no"`
	Status        string `json:"status"`
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
	TransactionID string `json:"transaction_id"`
	Sig           string `json:"sig"`
}

// Sign fills Sig with key.
func (n *FakeNotification) Sign(key string) {
	n.Sig = fakeSig(key, n)
}

func fakeSig(key string, n *FakeNotification) string {
	m := hmac.New(sha256.New, []byte(key))
	fmt.Fprintf(m, "%s|%s|%s|%d|%s|%s", n.Account, n.OutTradeNo, n.Status, n.Amount, n.Currency, n.TransactionID)
	return hex.EncodeToString(m.Sum(nil))
}

func (f *fake) ParseNotify(_ context.Context, _ *http.Request, body []byte) (providers.Notification, error) {
	var n FakeNotification
	if err := json.Unmarshal(body, &n); err != nil || n.OutTradeNo == "" {
		return providers.Notification{}, fmt.Errorf("%w: %v", providers.ErrMalformed, err)
	}
	if !hmac.Equal([]byte(n.Sig), []byte(fakeSig(f.ch.Params.String("key"), &n))) {
		return providers.Notification{Kind: providers.NotifyPayment, Order: providers.OrderState{OutTradeNo: n.OutTradeNo}, Hint: true},
			fmt.Errorf("%w: bad sig", providers.ErrVerification)
	}
	if n.Account != f.ch.Params.String("account") {
		return providers.Notification{}, fmt.Errorf("%w: account %s", providers.ErrChannelMismatch, n.Account)
	}
	st := providers.OrderState{Status: providers.OrderStatus(n.Status), OutTradeNo: n.OutTradeNo, TransactionID: n.TransactionID,
		Amount: providers.Money{Minor: n.Amount, Currency: n.Currency}, PaidAt: time.Now()}
	return providers.Notification{Kind: providers.NotifyPayment, Order: st}, nil
}

func (f *fake) NotifyAck(ok bool, reason string) providers.Ack {
	if ok {
		return providers.Ack{Status: http.StatusOK, ContentType: "text/plain", Body: []byte("OK")}
	}
	return providers.Ack{Status: http.StatusBadRequest, ContentType: "text/plain", Body: []byte("FAIL")}
}
