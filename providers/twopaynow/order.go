package twopaynow

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/providers"
)

// passback is what we put in passback_parameters (a JSON string 2paynow
// hands back in the notification). precreate carries no merchant order
// number, so this is where our out_trade_no travels.
type passback struct {
	OutTradeNo string `json:"out_trade_no"`
}

// CreateOrder places the unified order (see createFlow).
func (p *Adapter) CreateOrder(ctx context.Context, req providers.CreateOrderRequest) (providers.CreateOrderResult, error) {
	if req.Amount.Currency != p.currency {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "", "this 2paynow channel takes %s, not %s", p.currency, req.Amount.Currency)
	}
	typ, err := payType(req.PayMethod)
	if err != nil {
		return providers.CreateOrderResult{}, err
	}
	pb, _ := json.Marshal(passback{OutTradeNo: req.OutTradeNo})
	subject := providers.FirstNonEmpty(strings.TrimSpace(req.Description), req.OutTradeNo)
	notifyURL := providers.FirstNonEmpty(req.NotifyURL, p.ch.NotifyURL)
	if p.flow == flowWAP {
		return providers.CreateOrderResult{PayURL: p.wapURL(req, typ, subject, notifyURL, string(pb))}, nil
	}

	q := p.signed(fnPrecreate)
	q.Set("type", typ)
	q.Set("subject", subject)
	q.Set("amount", providers.FormatMinor(req.Amount.Minor, req.Amount.Currency))
	q.Set("currency", req.Amount.Currency)
	q.Set("notify_url", notifyURL)
	q.Set("it_b_pay", itBPay(req.ExpiresAt, p.now()))
	q.Set("passback_parameters", string(pb))
	a, err := p.call(ctx, q)
	if err != nil {
		return providers.CreateOrderResult{}, err
	}
	tradeNo := a.str("trade_no")
	if tradeNo == "" {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeBadResponse, "", "precreate answer has no trade_no")
	}
	payURL := payURLFromAnswer(a.str("qr_code"), a.str("pic_url"))
	if payURL == "" {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeBadResponse, "", "precreate answer has neither an http(s) qr_code nor a pic_url")
	}
	return providers.CreateOrderResult{ProviderTradeNo: tradeNo, PayURL: payURL}, nil
}

// wapURL builds the signed redirect URL of the WAP page (flowWAP), with the
// fields of the driver's WapPreCreateRequest: it_b_pay is left out for
// WeChat, merchant_trade_no is our out_trade_no.
func (p *Adapter) wapURL(req providers.CreateOrderRequest, typ, subject, notifyURL, pb string) string {
	q := p.signed(fnWapPrecreate)
	q.Set("type", typ)
	q.Set("subject", subject)
	q.Set("amount", providers.FormatMinor(req.Amount.Minor, req.Amount.Currency))
	q.Set("currency", req.Amount.Currency)
	q.Set("notify_url", notifyURL)
	if typ != typeWeChat {
		q.Set("it_b_pay", itBPay(req.ExpiresAt, p.now()))
	}
	q.Set("passback_parameters", pb)
	q.Set("merchant_trade_no", req.OutTradeNo)
	if req.ReturnURL != "" {
		q.Set("return_url", req.ReturnURL)
	}
	page := p.ch.BaseURL + weChatWapPath
	switch {
	case p.realHost && typ == typeWeChat:
		page = realWeChatWapURL
	case p.realHost:
		page = realAlipayWapURL
	case typ != typeWeChat:
		page = p.ch.BaseURL + alipayWapPath
	}
	return page + "?" + q.Encode()
}

// QueryOrder asks `query` with 2paynow's trade_no when it is known, else
// `wap_query` with our number in trade_no (which finds orders placed
// through the WAP page; a precreate order carries no merchant number, so
// for it an unknown trade_no stays unresolved until a query by trade_no).
func (p *Adapter) QueryOrder(ctx context.Context, ref providers.OrderRef) (providers.OrderState, error) {
	a, err := p.query(ctx, ref)
	if err != nil {
		return providers.OrderState{}, err
	}
	word := a.str("trans_status")
	status := mapTransStatus(word)
	st := providers.OrderState{
		Status:          status,
		ProviderStatus:  word,
		OutTradeNo:      ref.OutTradeNo,
		ProviderTradeNo: a.str("trade_no"),
	}
	if st.ProviderTradeNo == "" {
		st.ProviderTradeNo = ref.ProviderTradeNo
	}
	if amt := a.str("amount"); amt != "" {
		cur := providers.FirstNonEmpty(a.str("currency"), p.currency)
		m, err := providers.ParseProviderAmount(amt, strings.ToUpper(cur))
		if err != nil {
			return providers.OrderState{}, providers.Errorf(providers.ErrCodeBadResponse, "", "query amount: %v", err)
		}
		st.Amount = m
	}
	if status == providers.OrderPaid {
		st.PaidAt = parseTransTime(a.str("trans_time"))
	}
	return st, nil
}

func (p *Adapter) query(ctx context.Context, ref providers.OrderRef) (answer, error) {
	switch {
	case ref.ProviderTradeNo != "":
		q := p.signed(fnQuery)
		q.Set("trade_no", ref.ProviderTradeNo)
		return p.call(ctx, q)
	case ref.OutTradeNo != "":
		q := p.signed(fnWapQuery)
		q.Set("trade_no", ref.OutTradeNo)
		return p.call(ctx, q)
	default:
		return nil, providers.Errorf(providers.ErrCodeRejected, "", "2paynow needs trade_no or out_trade_no")
	}
}

// CloseOrder cancels the order (`cancel` with 2paynow's trade_no). Without
// the trade_no it first asks wap_query for it.
func (p *Adapter) CloseOrder(ctx context.Context, ref providers.OrderRef) error {
	tradeNo, err := p.tradeNo(ctx, ref)
	if err != nil {
		return err
	}
	q := p.signed(fnCancel)
	q.Set("trade_no", tradeNo)
	_, err = p.call(ctx, q)
	return err
}

func (p *Adapter) tradeNo(ctx context.Context, ref providers.OrderRef) (string, error) {
	if ref.ProviderTradeNo != "" {
		return ref.ProviderTradeNo, nil
	}
	a, err := p.query(ctx, ref)
	if err != nil {
		return "", err
	}
	if no := a.str("trade_no"); no != "" {
		return no, nil
	}
	return "", providers.Errorf(providers.ErrCodeBadResponse, "", "wap_query answer has no trade_no")
}

// itBPay turns the order's expiry into 2paynow's `it_b_pay` ("30m"):
// whole minutes rounded up, at least 1, at most 15 days (the Alipay-style
// range); no expiry gives the driver's default 30m.
func itBPay(expiresAt, now time.Time) string {
	if expiresAt.IsZero() {
		return "30m"
	}
	d := expiresAt.Sub(now)
	minutes := int64((d + time.Minute - 1) / time.Minute)
	if minutes < 1 {
		minutes = 1
	}
	if minutes > 15*24*60 {
		minutes = 15 * 24 * 60
	}
	return strconv.FormatInt(minutes, 10) + "m"
}
