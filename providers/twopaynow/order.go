package twopaynow

import (
	"context"
	"encoding/json"
	"net/url"
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
func (p *Provider) CreateOrder(ctx context.Context, req providers.CreateOrderRequest) (providers.CreateOrderResult, error) {
	if req.Amount.Currency != p.currency {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "", "this 2paynow channel takes %s, not %s", p.currency, req.Amount.Currency)
	}
	typ, err := payType(req.PayMethod)
	if err != nil {
		return providers.CreateOrderResult{}, err
	}
	pb, _ := json.Marshal(passback{OutTradeNo: req.OutTradeNo})
	subject := strings.TrimSpace(req.Description)
	if subject == "" {
		subject = req.OutTradeNo
	}
	notifyURL := req.NotifyURL
	if notifyURL == "" {
		notifyURL = p.ch.NotifyURL
	}
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

// payURLFromAnswer picks the link the payer opens from a precreate answer.
// UNCONFIRMED: the form of qr_code is not public. When it is an http(s)
// URL (a hosted pay page, or Alipay's qr.alipay.com link) it is the pay
// link; otherwise (e.g. a weixin:// code URL no browser opens) pic_url, the
// QR image, is handed out instead.
func payURLFromAnswer(qrCode, picURL string) string {
	if isHTTPURL(qrCode) {
		return qrCode
	}
	if isHTTPURL(picURL) {
		return picURL
	}
	return ""
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// wapURL builds the signed redirect URL of the WAP page (flowWAP), with the
// fields of the driver's WapPreCreateRequest: it_b_pay is left out for
// WeChat, merchant_trade_no is our out_trade_no.
func (p *Provider) wapURL(req providers.CreateOrderRequest, typ, subject, notifyURL, pb string) string {
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
func (p *Provider) QueryOrder(ctx context.Context, ref providers.OrderRef) (providers.OrderState, error) {
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
		cur := a.str("currency")
		if cur == "" {
			cur = p.currency
		}
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

func (p *Provider) query(ctx context.Context, ref providers.OrderRef) (answer, error) {
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

// transStatuses are query's trans_status words (the driver's
// QueryResponse). 2paynow's own word for "pending" is UNKNOWN. A refunded
// order stays TRADE_SUCCESS with refund_amount > 0: it is PAID here,
// refunds are tracked by the gateway.
var transStatuses = map[string]providers.OrderStatus{
	"TRADE_SUCCESS": providers.OrderPaid,
	"TRADE_FAILED":  providers.OrderFailed,
	"TRADE_CLOSED":  providers.OrderClosed,
	"UNKNOWN":       providers.OrderPaying,
}

// mapTransStatus maps a trans_status word; any other word is
// providers.OrderUnknown (providers.MapStatus).
func mapTransStatus(word string) providers.OrderStatus {
	return providers.MapStatus(transStatuses, word)
}

// beijing is the zone of 2paynow's wall-clock times: trade numbers
// embed yyMMddHHmmss in UTC+8 (the driver's sample A19101413542297869 was
// notified at 2019-10-14 06:31 UTC, 37 minutes after 13:54 UTC+8).
var beijing = time.FixedZone("UTC+8", 8*3600)

// parseTransTime reads trans_time. UNCONFIRMED format; "2006-01-02
// 15:04:05" in UTC+8 is assumed, and an unreadable value gives zero.
func parseTransTime(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, beijing)
	if err != nil {
		return time.Time{}
	}
	return t
}

// CloseOrder cancels the order (`cancel` with 2paynow's trade_no). Without
// the trade_no it first asks wap_query for it.
func (p *Provider) CloseOrder(ctx context.Context, ref providers.OrderRef) error {
	tradeNo, err := p.tradeNo(ctx, ref)
	if err != nil {
		return err
	}
	q := p.signed(fnCancel)
	q.Set("trade_no", tradeNo)
	_, err = p.call(ctx, q)
	return err
}

func (p *Provider) tradeNo(ctx context.Context, ref providers.OrderRef) (string, error) {
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

// Refund asks for a (partial) refund. UNCONFIRMED (no public code shows
// it): the request is refundParams's; a success envelope means the refund
// is done (SUCCEEDED), since no refund query or refund notification is
// public. 2paynow's number for the refund is not known to be returned.
func (p *Provider) Refund(ctx context.Context, req providers.RefundRequest) (providers.RefundState, error) {
	if req.Amount.Currency != p.currency {
		return providers.RefundState{}, providers.Errorf(providers.ErrCodeRejected, "", "2paynow refunds in %s, not %s", p.currency, req.Amount.Currency)
	}
	tradeNo, err := p.tradeNo(ctx, req.Order)
	if err != nil {
		return providers.RefundState{}, err
	}
	a, err := p.call(ctx, p.refundParams(tradeNo, req.Amount))
	if err != nil {
		return providers.RefundState{}, err
	}
	st := providers.RefundState{
		Status:         providers.RefundSucceeded,
		ProviderStatus: "200",
		OutRefundNo:    req.OutRefundNo,
		SucceededAt:    p.now(),
	}
	if amt := a.str("refund_amount"); amt != "" {
		m, err := providers.ParseProviderAmount(amt, req.Amount.Currency)
		if err != nil {
			return providers.RefundState{}, providers.Errorf(providers.ErrCodeBadResponse, "", "refund amount: %v", err)
		}
		st.Amount = m
	}
	return st, nil
}

// refundParams is the whole assumed refund request (README assumption):
// function=refund, the order named by 2paynow's trade_no, refund_amount in
// major units of the order currency, signed like every call.
func (p *Provider) refundParams(tradeNo string, amount providers.Money) url.Values {
	q := p.signed(fnRefund)
	q.Set("trade_no", tradeNo)
	q.Set("refund_amount", providers.FormatMinor(amount.Minor, amount.Currency))
	return q
}

// QueryRefund: 2paynow has no public refund query (Capabilities says so).
func (p *Provider) QueryRefund(ctx context.Context, ref providers.RefundRef) (providers.RefundState, error) {
	return providers.RefundState{}, providers.Errorf(providers.ErrCodeUnsupported, "", "2paynow has no public refund query; the refund call's answer is final")
}
