package wechatv3

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/providers"
)

// prepayRequest is the JSAPI prepay body; direct and partner share it,
// the unused ids stay empty and are omitted.
type prepayRequest struct {
	AppID       string     `json:"appid,omitempty"`
	MchID       string     `json:"mchid,omitempty"`
	SpAppID     string     `json:"sp_appid,omitempty"`
	SpMchID     string     `json:"sp_mchid,omitempty"`
	SubAppID    string     `json:"sub_appid,omitempty"`
	SubMchID    string     `json:"sub_mchid,omitempty"`
	Description string     `json:"description"`
	OutTradeNo  string     `json:"out_trade_no"`
	TimeExpire  string     `json:"time_expire,omitempty"`
	NotifyURL   string     `json:"notify_url"`
	Amount      amountReq  `json:"amount"`
	Payer       payer      `json:"payer"`
	SceneInfo   *sceneInfo `json:"scene_info,omitempty"`
}

type amountReq struct {
	Total    int64  `json:"total"`
	Currency string `json:"currency"`
}

type payer struct {
	OpenID    string `json:"openid,omitempty"`
	SpOpenID  string `json:"sp_openid,omitempty"`
	SubOpenID string `json:"sub_openid,omitempty"`
}

type sceneInfo struct {
	PayerClientIP string `json:"payer_client_ip"`
}

type prepayResponse struct {
	PrepayID string `json:"prepay_id"`
}

// payerFields decides whose openid the payer's is and which appid the
// mini-program signs with: in partner mode sub_openid (with sub_appid)
// when PayerAppID is empty or equals sub_appid, sp_openid when it is the
// provider's appid.
func (p *Adapter) payerFields(req providers.CreateOrderRequest) (payer, string, string, error) {
	c := p.cfg
	if req.PayerOpenID == "" {
		return payer{}, "", "", providers.Errorf(providers.ErrCodeRejected, "", "payer openid is required for a mini-program payment")
	}
	if !c.partner {
		if req.PayerAppID != "" && req.PayerAppID != c.appid {
			return payer{}, "", "", providers.Errorf(providers.ErrCodeRejected, "", "payer appid %s is not this channel's appid", req.PayerAppID)
		}
		return payer{OpenID: req.PayerOpenID}, "", c.appid, nil
	}
	switch {
	case c.subAppid != "" && (req.PayerAppID == "" || req.PayerAppID == c.subAppid):
		return payer{SubOpenID: req.PayerOpenID}, c.subAppid, c.subAppid, nil
	case req.PayerAppID == "" || req.PayerAppID == c.appid:
		return payer{SpOpenID: req.PayerOpenID}, "", c.appid, nil
	default:
		return payer{}, "", "", providers.Errorf(providers.ErrCodeRejected, "", "payer appid %s is neither this channel's sp_appid nor its sub_appid", req.PayerAppID)
	}
}

// CreateOrder places a JSAPI (mini-program) prepay and returns the
// wx.requestPayment parameters.
func (p *Adapter) CreateOrder(ctx context.Context, req providers.CreateOrderRequest) (providers.CreateOrderResult, error) {
	if req.PayMethod != "" && req.PayMethod != providers.PayMethodWeChat {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeUnsupported, "", "wechat_v3 offers pay method %q only, not %q", providers.PayMethodWeChat, req.PayMethod)
	}
	if req.Amount.Currency != Currency || req.Amount.Minor <= 0 {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "", "amount must be a positive %s amount, got %d %s", Currency, req.Amount.Minor, req.Amount.Currency)
	}
	notifyURL := providers.FirstNonEmpty(req.NotifyURL, p.ch.NotifyURL)
	if notifyURL == "" {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeRejected, "", "notify_url is required by WeChat Pay and the channel has none")
	}
	pay, subAppID, signAppID, err := p.payerFields(req)
	if err != nil {
		return providers.CreateOrderResult{}, err
	}
	body := prepayRequest{
		Description: truncateRunes(providers.FirstNonEmpty(strings.TrimSpace(req.Description), req.OutTradeNo), maxDescriptionRunes),
		OutTradeNo:  req.OutTradeNo,
		NotifyURL:   notifyURL,
		Amount:      amountReq{Total: req.Amount.Minor, Currency: Currency},
		Payer:       pay,
	}
	if !req.ExpiresAt.IsZero() {
		body.TimeExpire = req.ExpiresAt.In(beijing).Format(time.RFC3339)
	}
	if req.ClientIP != "" {
		body.SceneInfo = &sceneInfo{PayerClientIP: req.ClientIP}
	}
	path := pathJSAPI
	if p.cfg.partner {
		path = pathPartnerJSAPI
		body.SpAppID, body.SpMchID, body.SubMchID, body.SubAppID = p.cfg.appid, p.cfg.mchid, p.cfg.subMchid, subAppID
	} else {
		body.AppID, body.MchID = p.cfg.appid, p.cfg.mchid
	}
	var out prepayResponse
	if err := p.call(ctx, "POST", path, body, &out); err != nil {
		if providers.IsCode(err, providers.ErrCodeOrderPaid) {
			return providers.CreateOrderResult{Status: providers.OrderPaid}, nil
		}
		return providers.CreateOrderResult{}, err
	}
	if out.PrepayID == "" {
		return providers.CreateOrderResult{}, providers.Errorf(providers.ErrCodeBadResponse, "", "prepay answer has no prepay_id")
	}
	params, err := p.payParams(signAppID, out.PrepayID)
	if err != nil {
		return providers.CreateOrderResult{}, err
	}
	return providers.CreateOrderResult{PayParams: params}, nil
}

// payParams builds wx.requestPayment's parameters, paySign being
// SHA256withRSA over appId\ntimeStamp\nnonceStr\npackage\n with the
// merchant's (partner: the provider's) API key. appId is returned too:
// the mini-program does not pass it, but the API shows it.
func (p *Adapter) payParams(appID, prepayID string) (map[string]string, error) {
	ts := strconv.FormatInt(p.now().Unix(), 10)
	nonce := p.nonce()
	pkg := "prepay_id=" + prepayID
	sig, err := signSHA256WithRSA(p.cfg.privateKey, paySignMessage(appID, ts, nonce, pkg))
	if err != nil {
		return nil, fmt.Errorf("paySign: %w", err)
	}
	return map[string]string{
		"appId": appID, "timeStamp": ts, "nonceStr": nonce, "package": pkg,
		"signType": "RSA", "paySign": sig,
	}, nil
}

// mchQuery is the account part of a query string: ?mchid= or
// ?sp_mchid=&sub_mchid=.
func (p *Adapter) mchQuery() string {
	if p.cfg.partner {
		return "sp_mchid=" + url.QueryEscape(p.cfg.mchid) + "&sub_mchid=" + url.QueryEscape(p.cfg.subMchid)
	}
	return "mchid=" + url.QueryEscape(p.cfg.mchid)
}

// QueryOrder asks by transaction_id when known, else by out_trade_no.
func (p *Adapter) QueryOrder(ctx context.Context, ref providers.OrderRef) (providers.OrderState, error) {
	var path string
	switch {
	case ref.TransactionID != "":
		path = pathByID
		if p.cfg.partner {
			path = pathPartnerByID
		}
		path += url.PathEscape(ref.TransactionID)
	case ref.OutTradeNo != "":
		path = pathByOutTradeNo
		if p.cfg.partner {
			path = pathPartnerByOutTrade
		}
		path += url.PathEscape(ref.OutTradeNo)
	default:
		return providers.OrderState{}, providers.Errorf(providers.ErrCodeRejected, "", "query needs transaction_id or out_trade_no")
	}
	var tx transaction
	if err := p.call(ctx, "GET", path+"?"+p.mchQuery(), nil, &tx); err != nil {
		return providers.OrderState{}, err
	}
	if err := p.checkTransactionAccount(tx); err != nil {
		return providers.OrderState{}, providers.Errorf(providers.ErrCodeBadResponse, "", "query answer: %v", err)
	}
	if (ref.TransactionID != "" && tx.TransactionID != ref.TransactionID) ||
		(ref.OutTradeNo != "" && tx.OutTradeNo != ref.OutTradeNo) {
		return providers.OrderState{}, providers.Errorf(providers.ErrCodeBadResponse, "", "query answer names another order (%s / %s)", tx.OutTradeNo, tx.TransactionID)
	}
	st, err := tx.state()
	if err != nil {
		return providers.OrderState{}, providers.Errorf(providers.ErrCodeBadResponse, "", "query answer: %v", err)
	}
	return st, nil
}

// CloseOrder closes an unpaid order (204 No Content).
func (p *Adapter) CloseOrder(ctx context.Context, ref providers.OrderRef) error {
	if ref.OutTradeNo == "" {
		return providers.Errorf(providers.ErrCodeRejected, "", "close needs out_trade_no")
	}
	var path string
	var body map[string]string
	if p.cfg.partner {
		path = pathPartnerByOutTrade + url.PathEscape(ref.OutTradeNo) + "/close"
		body = map[string]string{"sp_mchid": p.cfg.mchid, "sub_mchid": p.cfg.subMchid}
	} else {
		path = pathByOutTradeNo + url.PathEscape(ref.OutTradeNo) + "/close"
		body = map[string]string{"mchid": p.cfg.mchid}
	}
	return p.call(ctx, "POST", path, body, nil)
}
