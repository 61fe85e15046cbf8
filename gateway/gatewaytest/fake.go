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
//
// Params: key, account (required); notify: "false" for a provider without
// callbacks; refund_currency; book: a name under which several gateway
// instances (replicas in one test) share one provider book; without it
// each channel built gets a fresh book.
const FakeKind = "test_fake"

// FakeParams are a fake channel's params.
type FakeParams struct {
	Key            providers.Secret `param:"key,required"`
	Account        string           `param:"account,required"`
	Notify         string           `param:"notify"`
	RefundCurrency string           `param:"refund_currency"`
	Book           string           `param:"book"`
}

func init() {
	providers.Register(providers.Spec[FakeParams, *fake]{Kind: FakeKind, DefaultCurrency: "CNY", BaseURL: "https://fake.invalid",
		Build: func(ch providers.Channel, p FakeParams, _ providers.Deps) (*fake, error) {
			fakeMu.Lock()
			defer fakeMu.Unlock()
			b := sharedBooks[p.Book]
			if b == nil || p.Book == "" {
				b = newFakeBook()
				if p.Book != "" {
					sharedBooks[p.Book] = b
				}
			}
			fakeBooks[ch.ID] = b
			return &fake{ch: ch, params: p, book: b}, nil
		}})
}

var (
	fakeMu      sync.Mutex
	fakeBooks   = map[string]*FakeBook{}
	sharedBooks = map[string]*FakeBook{}
)

func newFakeBook() *FakeBook {
	return &FakeBook{orders: map[string]*providers.OrderState{}, refunds: map[string]*providers.RefundState{},
		queries: map[string]int{}, inflight: map[string]int{}, maxInflight: map[string]int{},
		refundCalls: map[string]int{}, refundsInFlight: map[string]bool{}, refundedByOrder: map[string]int64{}}
}

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

	// Query instrumentation: QueryOrder calls per out_trade_no, those in
	// flight now, and the most ever in flight at once per order and in all.
	queries     map[string]int
	inflight    map[string]int
	maxInflight map[string]int
	inflightAll int
	maxAll      int
	queryDelay  time.Duration
	queryErr    error
	closeErr    error

	// Refund instrumentation and behaviour (SetRefundBehaviour).
	refundCalls     map[string]int   // Refund calls per out_refund_no
	refundsInFlight map[string]bool  // Refund calls being processed now
	refundedByOrder map[string]int64 // minor units really refunded per out_trade_no
	refundDelay     time.Duration
	refuseInFlight  bool
	loseAnswer      func(outRefundNo string) bool
	omitPaidAmount  bool
	createDelay     time.Duration
}

// SetRefundBehaviour makes Refund take delay to process (outside the
// book's lock; QueryRefund does not know the refund until it is done),
// refuse a second call for a refund still being processed when
// refuseInFlight is set (as a provider answering "refund in progress"
// with a plain refusal would), and lose the answer of the calls loseAnswer
// picks (the refund is made, the caller gets PROVIDER_UNAVAILABLE, as
// after a timeout).
func (b *FakeBook) SetRefundBehaviour(delay time.Duration, refuseInFlight bool, loseAnswer func(outRefundNo string) bool) {
	b.mu.Lock()
	b.refundDelay, b.refuseInFlight, b.loseAnswer = delay, refuseInFlight, loseAnswer
	b.mu.Unlock()
}

// RefundCalls returns how often Refund was called for out_refund_no.
func (b *FakeBook) RefundCalls(outRefundNo string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.refundCalls[outRefundNo]
}

// Refunded returns the minor units the provider really refunded on an order.
func (b *FakeBook) Refunded(outTradeNo string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.refundedByOrder[outTradeNo]
}

// OmitPaidAmount makes QueryOrder leave the amount out of its answers.
func (b *FakeBook) OmitPaidAmount(omit bool) {
	b.mu.Lock()
	b.omitPaidAmount = omit
	b.mu.Unlock()
}

// SetCreateDelay makes CreateOrder take d (outside the book's lock).
func (b *FakeBook) SetCreateDelay(d time.Duration) {
	b.mu.Lock()
	b.createDelay = d
	b.mu.Unlock()
}

// SetQueryBehaviour makes QueryOrder take delay (outside the book's lock,
// so calls overlap as real ones do) and, when err is set, fail with it;
// closeErr likewise makes CloseOrder fail.
func (b *FakeBook) SetQueryBehaviour(delay time.Duration, err, closeErr error) {
	b.mu.Lock()
	b.queryDelay, b.queryErr, b.closeErr = delay, err, closeErr
	b.mu.Unlock()
}

// Queries returns how often QueryOrder was called for an order.
func (b *FakeBook) Queries(outTradeNo string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.queries[outTradeNo]
}

// MaxConcurrentQueries returns the most QueryOrder calls ever in flight at
// once for one order.
func (b *FakeBook) MaxConcurrentQueries(outTradeNo string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.maxInflight[outTradeNo]
}

// MaxConcurrentQueriesAll returns the most QueryOrder calls ever in flight
// at once on the book (all orders).
func (b *FakeBook) MaxConcurrentQueriesAll() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.maxAll
}

// Status returns the provider's status of an order ("" when unknown).
func (b *FakeBook) Status(outTradeNo string) providers.OrderStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	if o, ok := b.orders[outTradeNo]; ok {
		return o.Status
	}
	return ""
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
	ch     providers.Channel
	params FakeParams
	book   *FakeBook
}

func (f *fake) Kind() string { return FakeKind }

func (f *fake) Capabilities() providers.Capabilities {
	return providers.Capabilities{
		Notify: f.params.Notify != "false", RefundNotify: false,
		Query: true, Close: true, Refund: true, RefundQuery: true,
		Currencies: []string{f.ch.Currency}, PayMethods: []string{"wechat", "alipay"}, RequiresOpenID: true,
		RefundCurrency: f.params.RefundCurrency,
	}
}

func (f *fake) CreateOrder(_ context.Context, req providers.CreateOrderRequest) (providers.CreateOrderResult, error) {
	b := f.book
	b.mu.Lock()
	b.call("create")
	delay := b.createDelay
	b.mu.Unlock()
	time.Sleep(delay)
	b.mu.Lock()
	defer b.mu.Unlock()
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
	no := ref.OutTradeNo
	b.mu.Lock()
	b.call("query")
	b.queries[no]++
	b.inflight[no]++
	b.maxInflight[no] = max(b.maxInflight[no], b.inflight[no])
	b.inflightAll++
	b.maxAll = max(b.maxAll, b.inflightAll)
	delay, qerr := b.queryDelay, b.queryErr
	b.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inflight[no]--
	b.inflightAll--
	if qerr != nil {
		return providers.OrderState{}, qerr
	}
	o, ok := b.orders[ref.OutTradeNo]
	if !ok {
		return providers.OrderState{}, providers.Errorf(providers.ErrCodeNotFound, "ORDERNOTEXIST", "no order")
	}
	st := *o
	if b.omitPaidAmount {
		st.Amount = providers.Money{}
	}
	return st, nil
}

func (f *fake) CloseOrder(_ context.Context, ref providers.OrderRef) error {
	b := f.book
	b.mu.Lock()
	defer b.mu.Unlock()
	b.call("close")
	if b.closeErr != nil {
		return b.closeErr
	}
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
	b.refundCalls[req.OutRefundNo]++
	if b.RefundErr != nil {
		return providers.RefundState{}, b.RefundErr
	}
	if r, ok := b.refunds[req.OutRefundNo]; ok {
		return *r, nil
	}
	if b.refundsInFlight[req.OutRefundNo] {
		if b.refuseInFlight {
			return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "REFUND_REFUSED", "refund refused")
		}
	}
	b.refundsInFlight[req.OutRefundNo] = true
	if d := b.refundDelay; d > 0 {
		b.mu.Unlock()
		time.Sleep(d)
		b.mu.Lock()
	}
	delete(b.refundsInFlight, req.OutRefundNo)
	if r, ok := b.refunds[req.OutRefundNo]; ok {
		return *r, nil
	}
	st := b.RefundStatus
	if st == "" {
		st = providers.RefundSucceeded
	}
	r := &providers.RefundState{Status: st, OutRefundNo: req.OutRefundNo, ProviderRefundNo: "FR" + req.OutRefundNo, Amount: req.Amount}
	b.refunds[req.OutRefundNo] = r
	if st == providers.RefundSucceeded {
		b.refundedByOrder[req.Order.OutTradeNo] += req.Amount.Minor
	}
	if b.loseAnswer != nil && b.loseAnswer(req.OutRefundNo) {
		return providers.RefundState{}, providers.Unavailable(context.DeadlineExceeded)
	}
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

// AddConsoleRefund records a refund made at the provider past the gateway
// (its console): QueryRefund finds it.
func (b *FakeBook) AddConsoleRefund(outRefundNo string, amount providers.Money, st providers.RefundStatus) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refunds[outRefundNo] = &providers.RefundState{Status: st, OutRefundNo: outRefundNo, ProviderRefundNo: "FR" + outRefundNo,
		Amount: amount, SucceededAt: time.Now()}
}

// SetRefundResult sets what Refund answers for new refunds (RefundStatus).
func (b *FakeBook) SetRefundResult(st providers.RefundStatus) {
	b.mu.Lock()
	b.RefundStatus = st
	b.mu.Unlock()
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
	// A refund notification names the refund (out_refund_no set): Status
	// is the refund's, Amount the refund's amount.
	OutRefundNo string `json:"out_refund_no,omitempty"`
	// Hint: a provider whose notifications only say "ask me" (the
	// gateway queries instead of trusting the body).
	Hint bool   `json:"hint,omitempty"`
	Sig  string `json:"sig"`
}

// Sign fills Sig with key.
func (n *FakeNotification) Sign(key string) {
	n.Sig = fakeSig(key, n)
}

func fakeSig(key string, n *FakeNotification) string {
	m := hmac.New(sha256.New, []byte(key))
	fmt.Fprintf(m, "%s|%s|%s|%d|%s|%s", n.Account, n.OutTradeNo, n.Status, n.Amount, n.Currency, n.TransactionID)
	if n.OutRefundNo != "" {
		fmt.Fprintf(m, "|refund|%s", n.OutRefundNo)
	}
	return hex.EncodeToString(m.Sum(nil))
}

func (f *fake) ParseNotify(_ context.Context, _ *http.Request, body []byte) (providers.Notification, error) {
	var n FakeNotification
	if err := json.Unmarshal(body, &n); err != nil || n.OutTradeNo == "" {
		return providers.Notification{}, fmt.Errorf("%w: %v", providers.ErrMalformed, err)
	}
	if !hmac.Equal([]byte(n.Sig), []byte(fakeSig(f.params.Key.Reveal(), &n))) {
		return providers.Notification{Kind: providers.NotifyPayment, Order: providers.OrderState{OutTradeNo: n.OutTradeNo}, Hint: true},
			fmt.Errorf("%w: bad sig", providers.ErrVerification)
	}
	if n.Account != f.params.Account {
		return providers.Notification{}, fmt.Errorf("%w: account %s", providers.ErrChannelMismatch, n.Account)
	}
	if n.OutRefundNo != "" && n.Hint {
		return providers.Notification{Kind: providers.NotifyRefund, Order: providers.OrderState{OutTradeNo: n.OutTradeNo},
			Refund: providers.RefundState{OutRefundNo: n.OutRefundNo}, Hint: true}, nil
	}
	if n.OutRefundNo != "" {
		rs := providers.RefundState{Status: providers.RefundStatus(n.Status), OutRefundNo: n.OutRefundNo, ProviderRefundNo: "FR" + n.OutRefundNo,
			Amount: providers.Money{Minor: n.Amount, Currency: n.Currency}, SucceededAt: time.Now()}
		return providers.Notification{Kind: providers.NotifyRefund, Order: providers.OrderState{OutTradeNo: n.OutTradeNo}, Refund: rs}, nil
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
