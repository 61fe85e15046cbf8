package wechatv3

import (
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox/wechatv3sim"
)

// Test fixtures: the shipped sandbox demo keys (public, sandbox only).
// Notifications and answers are built with the simulator's crypto, which
// is written apart from the adapter's.
const (
	demoDir        = "../../configs/sandbox/wechat_v3/"
	tAPIv3Key      = "DEMO0SANDBOX0APIV3KEY00000000000"
	tCertSerial    = "5D1A2B3C4D5E6F708192A3B4C5D6E7F801234567"
	tPubKeyID      = "PUB_KEY_ID_0000000000000099000000000000000001"
	tPlatformSer   = "3775B6A45ACD588826D15E583A95F5DD2B0C9E11"
	tAppID         = "wxd678efh567hg6787"
	tMchID         = "1900000109"
	tSpAppID       = "wx8888888888888888"
	tSpMchID       = "1900000100"
	tSubMchID      = "1900000111"
	tSubAppID      = "wxdace645e0bc2cXXX"
	tOpenID        = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
	tOutTradeNo    = "T20240101000001"
	tTransactionID = "4200000000000000000000000001"
)

// tNow is the pinned clock of the unit tests.
var tNow = time.Date(2024, 1, 1, 12, 0, 0, 0, beijing)

func directParams() providers.Params {
	return providers.Params{
		"appid": tAppID, "mchid": tMchID, "api_v3_key": tAPIv3Key,
		"private_key_file": demoDir + "apiclient_key.pem", "merchant_cert_file": demoDir + "apiclient_cert.pem",
		"cert_serial_no":            tCertSerial,
		"wechatpay_public_key_file": demoDir + "wechatpay_public_key.pem", "wechatpay_public_key_id": tPubKeyID,
		"platform_cert_files": []any{demoDir + "platform_cert.pem"},
	}
}

func partnerParams() providers.Params {
	p := directParams()
	p["appid"], p["mchid"], p["sub_mchid"], p["sub_appid"] = tSpAppID, tSpMchID, tSubMchID, tSubAppID
	return p
}

func with(p providers.Params, kv ...any) providers.Params {
	out := providers.Params{}
	for k, v := range p {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func newTestProvider(t testing.TB, params providers.Params, baseURL string) *Adapter {
	t.Helper()
	p, err := newAdapter(providers.Channel{ID: "t", Kind: Kind, Currency: "CNY", BaseURL: baseURL,
		NotifyURL: "https://gw.example/notify/t", Params: params},
		providers.Deps{Now: func() time.Time { return tNow }})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// wechatSide holds WeChat's private keys of the demo set.
type wechatSide struct {
	pubKeyPriv   *rsa.PrivateKey
	platformPriv *rsa.PrivateKey
	merchantPub  *rsa.PublicKey
}

func loadWechatSide(t testing.TB) wechatSide {
	t.Helper()
	pk, err := wechatv3sim.ReadPrivateKey(demoDir + "sandbox_wechatpay_private_key.pem")
	if err != nil {
		t.Fatal(err)
	}
	ck, err := wechatv3sim.ReadPrivateKey(demoDir + "sandbox_platform_private_key.pem")
	if err != nil {
		t.Fatal(err)
	}
	mk, err := wechatv3sim.ReadPrivateKey(demoDir + "apiclient_key.pem")
	if err != nil {
		t.Fatal(err)
	}
	return wechatSide{pubKeyPriv: pk, platformPriv: ck, merchantPub: &mk.PublicKey}
}

// sign returns Wechatpay-* headers over body, signed at ts with the key
// named by serial.
func (w wechatSide) sign(t testing.TB, serial string, ts time.Time, nonce string, body []byte) http.Header {
	t.Helper()
	key := w.pubKeyPriv
	if serial != tPubKeyID {
		key = w.platformPriv
	}
	tss := strconv.FormatInt(ts.Unix(), 10)
	sig, err := wechatv3sim.SignMessage(key, wechatv3sim.AnswerSigningString(tss, nonce, body))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Wechatpay-Timestamp", tss)
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Signature", sig)
	h.Set("Wechatpay-Serial", serial)
	h.Set("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
	return h
}

// notification builds a v3 notification body with the resource sealed
// under key.
func notification(t testing.TB, key, eventType, originalType string, resource any) []byte {
	t.Helper()
	pt, err := json.Marshal(resource)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := wechatv3sim.SealResource([]byte(key), "0123456789ab", originalType, pt)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": "EV-2018-0001", "create_time": "2024-01-01T12:00:00+08:00", "resource_type": "encrypt-resource",
		"event_type": eventType, "summary": "支付成功",
		"resource": map[string]string{"original_type": originalType, "algorithm": "AEAD_AES_256_GCM",
			"ciphertext": ct, "associated_data": originalType, "nonce": "0123456789ab"},
	})
	return b
}

func directTransaction() map[string]any {
	return map[string]any{
		"appid": tAppID, "mchid": tMchID, "out_trade_no": tOutTradeNo, "transaction_id": tTransactionID,
		"trade_type": "JSAPI", "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS",
		"attach": "", "success_time": "2024-01-01T12:00:05+08:00", "payer": map[string]string{"openid": tOpenID},
		"amount": map[string]any{"total": 100, "payer_total": 100, "currency": "CNY", "payer_currency": "CNY"},
	}
}

func partnerTransaction() map[string]any {
	return map[string]any{
		"sp_appid": tSpAppID, "sp_mchid": tSpMchID, "sub_appid": tSubAppID, "sub_mchid": tSubMchID,
		"out_trade_no": tOutTradeNo, "transaction_id": tTransactionID, "trade_type": "JSAPI", "trade_state": "SUCCESS",
		"success_time": "2024-01-01T12:00:05+08:00", "payer": map[string]string{"sub_openid": tOpenID},
		"amount": map[string]any{"total": 100, "payer_total": 100, "currency": "CNY", "payer_currency": "CNY"},
	}
}

func refundResource(mch map[string]string, status string) map[string]any {
	r := map[string]any{
		"out_trade_no": tOutTradeNo, "transaction_id": tTransactionID, "out_refund_no": "R20240101000001",
		"refund_id": "50000000382019052709732678859", "refund_status": status, "success_time": "2024-01-02T10:00:00+08:00",
		"user_received_account": "支付用户零钱", "amount": map[string]any{"total": 100, "refund": 30, "payer_total": 100, "payer_refund": 30},
	}
	for k, v := range mch {
		r[k] = v
	}
	return r
}

// newAdapter builds a channel's adapter through the Factory.
func newAdapter(ch providers.Channel, deps providers.Deps) (*Adapter, error) {
	p, err := New(ch, deps)
	if err != nil {
		return nil, err
	}
	return p.(*Adapter), nil
}
