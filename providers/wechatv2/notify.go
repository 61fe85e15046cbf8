package wechatv2

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/paygate/paygate/providers"
)

// ParseNotify verifies and parses a v2 notification. A payment
// notification is signed (sign over every field but sign); a refund
// notification is not signed but carries req_info, AES-256-ECB encrypted
// with the MD5 of the APIv2 key, and decrypting it is the verification.
// The two are told apart by the presence of req_info.
func (a *Adapter) ParseNotify(_ context.Context, _ *http.Request, body []byte) (providers.Notification, error) {
	m, err := parseXML(body, "xml")
	if err != nil {
		return providers.Notification{}, fmt.Errorf("%w: %v", providers.ErrMalformed, err)
	}
	if rc := m["return_code"]; rc != codeSuccess {
		return providers.Notification{}, fmt.Errorf("%w: return_code %q: %s", providers.ErrMalformed, clip(rc, 32), clip(m["return_msg"], 80))
	}
	if _, ok := m["req_info"]; ok {
		return a.parseRefundNotify(m)
	}
	return a.parsePayNotify(m)
}

func (a *Adapter) parsePayNotify(m map[string]string) (providers.Notification, error) {
	n := providers.Notification{Kind: providers.NotifyPayment}
	// Verify first, over every received field except sign.
	if _, ok := verify(m, a.cfg.apiKey, a.cfg.signType); !ok {
		// Name the order so the gateway may settle it by a query, never
		// by trusting this body.
		n.Order.OutTradeNo = m["out_trade_no"]
		n.Hint = true
		return n, fmt.Errorf("%w: pay notification signature", providers.ErrVerification)
	}
	if err := a.checkNotifyAccount(m); err != nil {
		return providers.Notification{}, err
	}
	o := providers.OrderState{
		OutTradeNo:    m["out_trade_no"],
		TransactionID: m["transaction_id"],
		// WeChat is the acquirer: its number is the provider's number too.
		ProviderTradeNo: m["transaction_id"],
		ProviderStatus:  m["result_code"],
		PayerID:         payerID(m),
	}
	if o.OutTradeNo == "" {
		return providers.Notification{}, fmt.Errorf("%w: no out_trade_no", providers.ErrMalformed)
	}
	switch m["result_code"] {
	case codeSuccess:
		o.Status = providers.OrderPaid
	case codeFail:
		o.Status = providers.OrderFailed
		if o.ProviderStatus = m["err_code"]; o.ProviderStatus == "" {
			o.ProviderStatus = codeFail
		}
	default:
		return providers.Notification{}, fmt.Errorf("%w: result_code %q", providers.ErrMalformed, clip(m["result_code"], 32))
	}
	var err error
	if v := m["total_fee"]; v != "" || o.Status == providers.OrderPaid {
		if o.Amount, err = parseFen(v, m["fee_type"]); err != nil {
			return providers.Notification{}, fmt.Errorf("%w: total_fee: %v", providers.ErrMalformed, err)
		}
	}
	if v := m["time_end"]; v != "" || o.Status == providers.OrderPaid {
		if o.PaidAt, err = parseTimeEnd(v); err != nil {
			return providers.Notification{}, fmt.Errorf("%w: time_end %q", providers.ErrMalformed, clip(v, 32))
		}
	}
	if o.Status == providers.OrderPaid && o.TransactionID == "" {
		return providers.Notification{}, fmt.Errorf("%w: paid without transaction_id", providers.ErrMalformed)
	}
	n.Order = o
	return n, nil
}

// checkNotifyAccount requires appid and mch_id (and sub_mch_id in
// service-provider mode) to be the channel's.
func (a *Adapter) checkNotifyAccount(m map[string]string) error {
	if m["appid"] == "" || m["mch_id"] == "" || (a.cfg.sp() && m["sub_mch_id"] == "") {
		return fmt.Errorf("%w: account fields missing", providers.ErrChannelMismatch)
	}
	return a.checkAccount(m)
}

func (a *Adapter) parseRefundNotify(m map[string]string) (providers.Notification, error) {
	// AES-ECB has no MAC: a wrong key or a tampered ciphertext shows as
	// bad padding or as plaintext that is not our strict <root> document,
	// and both are verification failures.
	plain, err := decryptReqInfo(m["req_info"], a.cfg.apiKey)
	if err != nil {
		return providers.Notification{}, fmt.Errorf("%w: req_info: %v", providers.ErrVerification, err)
	}
	r, err := parseXML(plain, "root")
	if err != nil {
		return providers.Notification{}, fmt.Errorf("%w: req_info does not decrypt to a refund document: %v", providers.ErrVerification, err)
	}
	if err := a.checkNotifyAccount(m); err != nil {
		return providers.Notification{}, err
	}
	word := r["refund_status"]
	status := MapRefundState(word)
	n := providers.Notification{
		Kind: providers.NotifyRefund,
		Order: providers.OrderState{
			OutTradeNo:    r["out_trade_no"],
			TransactionID: r["transaction_id"],
		},
		Refund: providers.RefundState{
			Status:           status,
			ProviderStatus:   word,
			OutRefundNo:      r["out_refund_no"],
			ProviderRefundNo: r["refund_id"],
		},
	}
	if n.Refund.OutRefundNo == "" || n.Order.OutTradeNo == "" {
		return providers.Notification{}, fmt.Errorf("%w: req_info lacks out_refund_no or out_trade_no", providers.ErrMalformed)
	}
	if n.Refund.Amount, err = parseFen(r["refund_fee"], currencyCNY); err != nil {
		return providers.Notification{}, fmt.Errorf("%w: refund_fee: %v", providers.ErrMalformed, err)
	}
	if v := r["total_fee"]; v != "" {
		if n.Order.Amount, err = parseFen(v, currencyCNY); err != nil {
			return providers.Notification{}, fmt.Errorf("%w: total_fee: %v", providers.ErrMalformed, err)
		}
	}
	if v := r["success_time"]; v != "" {
		if n.Refund.SucceededAt, err = parseSuccessTime(v); err != nil {
			return providers.Notification{}, fmt.Errorf("%w: success_time %q", providers.ErrMalformed, clip(v, 32))
		}
	}
	return n, nil
}

// reqInfoKey is the refund notification's AES-256 key: the 32 ASCII
// characters of the lowercase hex MD5 of the APIv2 key (§5.2).
func reqInfoKey(apiKey string) []byte {
	sum := md5.Sum([]byte(apiKey))
	return []byte(hex.EncodeToString(sum[:]))
}

// decryptReqInfo base64-decodes req_info and decrypts it with
// AES-256-ECB, removing PKCS#7 padding.
func decryptReqInfo(reqInfo, apiKey string) ([]byte, error) {
	ct, err := base64.StdEncoding.DecodeString(strings.TrimSpace(reqInfo))
	if err != nil {
		return nil, errors.New("not base64")
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 || len(ct) > MaxBodyBytes {
		return nil, errors.New("ciphertext length is not a positive multiple of the AES block")
	}
	block, err := aes.NewCipher(reqInfoKey(apiKey))
	if err != nil {
		return nil, err
	}
	pt := make([]byte, len(ct))
	for i := 0; i < len(ct); i += aes.BlockSize {
		block.Decrypt(pt[i:i+aes.BlockSize], ct[i:i+aes.BlockSize])
	}
	pad := int(pt[len(pt)-1])
	if pad < 1 || pad > aes.BlockSize || !bytes.Equal(pt[len(pt)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, errors.New("bad padding (wrong key or tampered)")
	}
	return pt[:len(pt)-pad], nil
}

// NotifyAck answers WeChat: HTTP 200 text/xml with return_code SUCCESS,
// or FAIL and a short message (WeChat retries on a FAIL body). The
// message is one of a few fixed phrases chosen from the reason, so
// nothing of the reason (which may name internals) is echoed.
func (a *Adapter) NotifyAck(ok bool, reason string) providers.Ack {
	code, msg := codeSuccess, "OK"
	if !ok {
		code, msg = codeFail, ackMessage(reason)
	}
	return providers.Ack{
		Status:      http.StatusOK,
		ContentType: "text/xml; charset=utf-8",
		Body:        []byte("<xml><return_code><![CDATA[" + code + "]]></return_code><return_msg><![CDATA[" + msg + "]]></return_msg></xml>"),
	}
}

// ackMessage names the failure in a fixed phrase.
func ackMessage(reason string) string {
	switch {
	case strings.Contains(reason, providers.ErrVerification.Error()):
		return "SIGN ERROR"
	case strings.Contains(reason, providers.ErrChannelMismatch.Error()):
		return "ACCOUNT MISMATCH"
	case strings.Contains(reason, providers.ErrMalformed.Error()):
		return "BAD REQUEST"
	default:
		return "TRY AGAIN"
	}
}
