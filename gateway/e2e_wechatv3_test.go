package gateway_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/gateway/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
	"github.com/paygate/paygate/providers/sandbox/wechatv3sim"
	"github.com/paygate/paygate/store"
)

// The shipped demo keys (configs/sandbox/wechat_v3/README.md: public,
// sandbox only). Tests run in gateway/, hence the "../".
const (
	v3Dir        = "../configs/sandbox/wechat_v3/"
	v3APIv3Key   = "DEMO0SANDBOX0APIV3KEY00000000000"
	v3SPAPIv3Key = "SP000SANDBOX0APIV3KEY00000000000" // the partner channel's own APIv3 key
	v3PubKeyID   = "PUB_KEY_ID_0000000000000099000000000000000001"
	v3CertSerial = "3775B6A45ACD588826D15E583A95F5DD2B0C9E11" // platform_cert.pem
	v3AppID      = "wxd678efh567hg6787"
	v3MchID      = "1900000109"
	v3SpAppID    = "wx8888888888888888"
	v3SubAppID   = "wxdace645e0bc2c001"
	v3OpenID     = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
)

// v3Merchant is the merchant API key pair every channel signs with.
const v3Merchant = `
          private_key_file: "` + v3Dir + `apiclient_key.pem"
          merchant_cert_file: "` + v3Dir + `apiclient_cert.pem"
          cert_serial_no: "5D1A2B3C4D5E6F708192A3B4C5D6E7F801234567"`

// WeChat's keys as the gateway knows them: the public key, the platform
// certificate, or both (as the docs advise during the migration).
const (
	v3PublicKey = `
          wechatpay_public_key_file: "` + v3Dir + `wechatpay_public_key.pem"
          wechatpay_public_key_id: "` + v3PubKeyID + `"`
	v3PlatformCert = `
          platform_cert_files: ["` + v3Dir + `platform_cert.pem"]`
	v3BothKeys = v3PublicKey + v3PlatformCert
)

// v3SandboxKeys are the private halves the in-process simulator signs
// with (sandbox-only params, ignored by the adapter).
const v3SandboxKeys = `
          sandbox_wechatpay_private_key_file: "` + v3Dir + `sandbox_wechatpay_private_key.pem"
          sandbox_platform_private_key_file: "` + v3Dir + `sandbox_platform_private_key.pem"`

// v3Config: a direct channel and a partner channel shaped like
// configs/examples/wechat_v3.yaml's sandbox channel (each its own mchid
// and APIv3 key), a direct channel that starts on the platform
// certificate for the rotation test, and a cloud pay channel. The poller
// runs every 20 ms; its first poll of a v3 order comes after
// orders.Backstop[0] (10 s) unless something makes the order due sooner.
const v3Config = `
server: {public_url: "${PUBLIC_URL}"}
database: {driver: "${DB_DRIVER}", dsn: "${DB}"}
sandbox: true
poller: {interval: 20ms}
webhooks: {interval: 50ms}
merchants:
  - id: demo
    api_keys: [{key: "` + demoKey + `", scopes: [orders:write, orders:read, refunds:write]}]
    webhook_url: "${WEBHOOK_URL}"
    webhook_secret: "${WEBHOOK_SECRET}"
    channels:
      - id: wxv3
        provider: wechat_v3
        currency: CNY
        base_url: sandbox
        params:
          appid: "` + v3AppID + `"
          mchid: "` + v3MchID + `"
          api_v3_key: "` + v3APIv3Key + `"` + v3Merchant + v3BothKeys + v3SandboxKeys + `
          sandbox_sign_with: public_key
          sandbox_refund_delay_ms: 50
      - id: wxv3-partner
        provider: wechat_v3
        currency: CNY
        base_url: sandbox
        params:
          appid: "` + v3SpAppID + `"
          mchid: "1900000100"
          sub_mchid: "1900000111"
          sub_appid: "` + v3SubAppID + `"
          api_v3_key: "` + v3SPAPIv3Key + `"` + v3Merchant + v3BothKeys + v3SandboxKeys + `
          sandbox_sign_with: public_key
          sandbox_refund_delay_ms: 50
      - id: wxv3-rotate
        provider: wechat_v3
        currency: CNY
        base_url: sandbox
        params:
          appid: "` + v3AppID + `"
          mchid: "1900000209"
          api_v3_key: "` + v3APIv3Key + `"` + v3Merchant + v3BothKeys + v3SandboxKeys + `
          sandbox_sign_with: platform_cert
          sandbox_refund_delay_ms: 300
      - id: cloudpay
        provider: wechat_cloudpay
        currency: CNY
        base_url: sandbox
        params: {sub_mch_id: "1712734762", sub_appid: "wxd2565e6a04246fd1", env_id: "prod-66733tes755tabc"}
`

func v3Order(channel, no, amount, payerAppID string) map[string]any {
	payer := map[string]any{"openid": v3OpenID}
	if payerAppID != "" {
		payer["appid"] = payerAppID
	}
	return map[string]any{"channel": channel, "out_trade_no": no, "amount": amount, "currency": "CNY", "description": "Tea", "payer": payer}
}

// v3Inbox returns a channel's inbox rows, oldest first.
func v3Inbox(t *testing.T, st *store.Store, channel string) []store.Notification {
	t.Helper()
	var rows []store.Notification
	if err := st.DB().Where("channel_id = ?", channel).Order("received_at, id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	return rows
}

// inboxOf returns the rows about one order (by order id).
func inboxOf(rows []store.Notification, orderID string) []store.Notification {
	var out []store.Notification
	for _, r := range rows {
		if r.OrderID == orderID {
			out = append(out, r)
		}
	}
	return out
}

// serialOf is the Wechatpay-Serial a recorded notification carried.
func serialOf(t *testing.T, rec store.Notification) string {
	t.Helper()
	var h map[string][]string
	if err := json.Unmarshal([]byte(rec.Headers), &h); err != nil {
		t.Fatalf("inbox headers: %v", err)
	}
	if v := h["Wechatpay-Serial"]; len(v) == 1 {
		return v[0]
	}
	return ""
}

func orderIDOf(t *testing.T, st *store.Store, no string) string {
	t.Helper()
	o, err := st.OrderByOutTradeNo(context.Background(), "demo", no)
	if err != nil {
		t.Fatalf("order %s: %v", no, err)
	}
	return o.ID
}

// eventCount counts the outbox rows of a type about an order: the
// gateway's own record, whatever the receiver saw.
func eventCount(t *testing.T, st *store.Store, typ, orderID string) int64 {
	t.Helper()
	var n int64
	if err := st.DB().Model(&store.MerchantEvent{}).Where("type = ? AND order_id = ?", typ, orderID).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// deliveries reads the sandbox's report of the notifications it sent.
func deliveries(t *testing.T, r gatewaytest.Response) []map[string]any {
	t.Helper()
	var out []map[string]any
	list, _ := r.JSON["notifications"].([]any)
	if list == nil {
		list, _ = r.JSON["callbacks"].([]any)
	}
	for _, d := range list {
		out = append(out, d.(map[string]any))
	}
	return out
}

func TestWeChatV3EndToEnd(t *testing.T) {
	env := gatewaytest.Start(t, v3Config, gatewaytest.Options{})
	certs, err := wechatv3sim.ReadCertificates(v3Dir + "apiclient_cert.pem")
	if err != nil {
		t.Fatal(err)
	}
	merchantPub := certs[0].PublicKey.(*rsa.PublicKey)

	tests := []struct {
		name, channel, no, payerAppID string
		wantAppID, wantPayerField     string
	}{
		{"direct", "wxv3", "V3DIRECT0001", "", v3AppID, "openid"},
		// Partner: payer.appid absent means the sub-merchant's mini-program.
		{"partner sub_openid", "wxv3-partner", "V3PARTNER001", "", v3SubAppID, "sub_openid"},
		{"partner sp_openid", "wxv3-partner", "V3PARTNER002", v3SpAppID, v3SpAppID, "sp_openid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created := env.Do("POST", "/v1/orders", demoKey, v3Order(tt.channel, tt.no, "12.34", tt.payerAppID))
			if created.Status != 201 || created.Str("status") != "PAYING" {
				t.Fatalf("create: %d %s", created.Status, created.Body)
			}
			pp, _ := created.JSON["pay_params"].(map[string]any)
			if len(pp) != 6 || pp["appId"] != tt.wantAppID || pp["signType"] != "RSA" || !strings.HasPrefix(fmt.Sprint(pp["package"]), "prepay_id=") {
				t.Fatalf("pay_params: %v", pp)
			}
			ts, _ := pp["timeStamp"].(string)
			if _, err := strconv.ParseInt(ts, 10, 64); err != nil || len(ts) != 10 {
				t.Fatalf("timeStamp %v is not a string of Unix seconds", pp["timeStamp"])
			}
			msg := fmt.Sprintf("%s\n%s\n%s\n%s\n", pp["appId"], ts, pp["nonceStr"], pp["package"])
			if err := wechatv3sim.VerifyMessage(merchantPub, msg, fmt.Sprint(pp["paySign"])); err != nil {
				t.Fatalf("paySign does not verify with the merchant certificate: %v", err)
			}

			paid := env.Pay(tt.channel, tt.no, nil)
			d := deliveries(t, paid)
			if paid.Status != 200 || len(d) != 1 || d[0]["status"] != float64(http.StatusNoContent) {
				t.Fatalf("sandbox pay: %d %s", paid.Status, paid.Body)
			}
			tx := paid.JSON["transaction"].(map[string]any)
			if payer, _ := tx["payer"].(map[string]any); payer[tt.wantPayerField] != v3OpenID {
				t.Fatalf("payer at WeChat: %v, want %s", tx["payer"], tt.wantPayerField)
			}
			o := env.WaitStatus(demoKey, tt.no, "PAID", 2*time.Second)
			txn := o.Str("transaction_id")
			if txn != tx["transaction_id"] || !strings.HasPrefix(txn, "4200") || o.Str("provider_trade_no") != txn {
				t.Fatalf("paid order: %s", o.Body)
			}
			ev := env.Receiver.Wait("order.paid", tt.no, 1, 3*time.Second)[0]
			if !ev.SignatureOK || ev.Data["transaction_id"] != txn || ev.Data["amount"] != "12.34" || ev.Data["status"] != "PAID" {
				t.Fatalf("order.paid: ok=%v %v", ev.SignatureOK, ev.Data)
			}

			// Partial refund: WeChat answers PROCESSING, then sends REFUND.SUCCESS.
			rf := env.Do("POST", "/v1/orders/"+tt.no+"/refunds", demoKey, map[string]any{"out_refund_no": tt.no + "R1", "amount": "2.34", "reason": "broken cup"})
			if rf.Status != 201 || (rf.Str("status") != "PROCESSING" && rf.Str("status") != "SUCCEEDED") {
				t.Fatalf("refund: %d %s", rf.Status, rf.Body)
			}
			rev := env.Receiver.Wait("refund.succeeded", tt.no, 1, 3*time.Second)[0]
			if !rev.SignatureOK || rev.Data["amount"] != "2.34" || rev.Data["out_refund_no"] != tt.no+"R1" {
				t.Fatalf("refund.succeeded: ok=%v %v", rev.SignatureOK, rev.Data)
			}
			got := env.Do("GET", "/v1/orders/"+tt.no+"/refunds/"+tt.no+"R1", demoKey, nil)
			if got.Str("status") != "SUCCEEDED" || !strings.HasPrefix(got.Str("provider_refund_no"), "50") {
				t.Fatalf("refund: %s", got.Body)
			}
			if o := env.Do("GET", "/v1/orders/"+tt.no, demoKey, nil); o.Str("status") != "PAID" || o.Str("refunded_amount") != "2.34" {
				t.Fatalf("after refund: %s", o.Body)
			}

			// Both settled by verified notifications (the poller's first
			// ask would come after 10 s / 30 s).
			rows := inboxOf(v3Inbox(t, env.App.Store, tt.channel), orderIDOf(t, env.App.Store, tt.no))
			if len(rows) != 2 {
				t.Fatalf("%d inbox rows, want 2", len(rows))
			}
			for i, kind := range []string{"payment", "refund"} {
				if r := rows[i]; r.Kind != kind || r.Outcome != store.OutcomeApplied || !r.Verified || serialOf(t, r) != v3PubKeyID {
					t.Fatalf("inbox %s: kind=%s outcome=%s verified=%v serial=%s", kind, r.Kind, r.Outcome, r.Verified, serialOf(t, r))
				}
			}
			if n := len(env.Receiver.Matching("order.paid", tt.no)); n != 1 {
				t.Fatalf("%d order.paid events", n)
			}
		})
	}
}

// Cloud pay signs nothing: its callback is only a hint, so the gateway
// asks queryorder and applies that answer (inbox outcome "queried").
func TestWeChatCloudPayEndToEnd(t *testing.T) {
	env := gatewaytest.Start(t, v3Config, gatewaytest.Options{})
	const no = "CLOUDPAY0001"
	created := env.Do("POST", "/v1/orders", demoKey, v3Order("cloudpay", no, "8.80", ""))
	pp, _ := created.JSON["pay_params"].(map[string]any)
	if created.Status != 201 || pp["paySign"] == nil || !strings.HasPrefix(fmt.Sprint(pp["package"]), "prepay_id=") {
		t.Fatalf("create: %d %s", created.Status, created.Body)
	}
	paid := env.Pay("cloudpay", no, nil)
	if d := deliveries(t, paid); paid.Status != 200 || len(d) != 1 || !strings.Contains(fmt.Sprint(d[0]["body"]), `"errcode":0`) {
		t.Fatalf("sandbox pay: %d %s", paid.Status, paid.Body)
	}
	o := env.WaitStatus(demoKey, no, "PAID", 2*time.Second)
	if !strings.HasPrefix(o.Str("transaction_id"), "4200") {
		t.Fatalf("paid order: %s", o.Body)
	}
	if ev := env.Receiver.Wait("order.paid", no, 1, 3*time.Second)[0]; !ev.SignatureOK || ev.Data["amount"] != "8.80" {
		t.Fatalf("order.paid: %v", ev.Data)
	}
	rf := env.Do("POST", "/v1/orders/"+no+"/refunds", demoKey, map[string]any{"out_refund_no": no + "R1", "amount": "1.80"})
	if rf.Status != 201 {
		t.Fatalf("refund: %d %s", rf.Status, rf.Body)
	}
	if rev := env.Receiver.Wait("refund.succeeded", no, 1, 3*time.Second)[0]; !rev.SignatureOK || rev.Data["amount"] != "1.80" {
		t.Fatalf("refund.succeeded: %v", rev.Data)
	}
	if o := env.Do("GET", "/v1/orders/"+no, demoKey, nil); o.Str("status") != "PAID" || o.Str("refunded_amount") != "1.80" {
		t.Fatalf("after refund: %s", o.Body)
	}
	rows := inboxOf(v3Inbox(t, env.App.Store, "cloudpay"), orderIDOf(t, env.App.Store, no))
	if len(rows) != 2 {
		t.Fatalf("%d inbox rows, want 2", len(rows))
	}
	for _, r := range rows {
		if r.Outcome != store.OutcomeQueried || r.Verified {
			t.Fatalf("callback: outcome %s verified %v, want queried and unverified", r.Outcome, r.Verified)
		}
	}
}

// v3Notification builds a notification body as WeChat Pay does:
// the resource is AES-256-GCM sealed with apiV3Key (12-byte nonce,
// associated data = the original type), base64 ciphertext||tag. With
// tamper, one byte of the ciphertext is flipped afterwards.
func v3Notification(t *testing.T, id, eventType, originalType, apiV3Key string, resource any, tamper bool) []byte {
	t.Helper()
	pt, err := json.Marshal(resource)
	if err != nil {
		t.Fatal(err)
	}
	const nonce = "0123456789ab"
	ct, err := wechatv3sim.SealResource([]byte(apiV3Key), nonce, originalType, pt)
	if err != nil {
		t.Fatal(err)
	}
	if tamper {
		raw, _ := base64.StdEncoding.DecodeString(ct)
		raw[len(raw)/2] ^= 0x01
		ct = base64.StdEncoding.EncodeToString(raw)
	}
	body, _ := json.Marshal(map[string]any{
		"id": id, "create_time": time.Now().Format(time.RFC3339), "resource_type": "encrypt-resource",
		"event_type": eventType, "summary": "支付成功",
		"resource": map[string]string{"original_type": originalType, "algorithm": "AEAD_AES_256_GCM",
			"ciphertext": ct, "associated_data": originalType, "nonce": nonce},
	})
	return body
}

// v3SignHeaders signs body as WeChat Pay does: base64 SHA256withRSA over
// "TIMESTAMP\nNONCE\nBODY\n", Wechatpay-Serial naming the key.
func v3SignHeaders(t *testing.T, key *rsa.PrivateKey, serial string, ts int64, body []byte) http.Header {
	t.Helper()
	tss, nonce := strconv.FormatInt(ts, 10), "n0nce"+strconv.FormatInt(time.Now().UnixNano(), 36)
	sig, err := wechatv3sim.SignMessage(key, tss+"\n"+nonce+"\n"+string(body)+"\n")
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

func postNotify(t *testing.T, url string, h http.Header, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ack, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, ack
}

// Notifications built here as WeChat would (signed with the sandbox's
// WeChat key, resource sealed with the channel's APIv3 key), each with one
// defect: refused with v3's failure ack, recorded with the reason, and
// the order left alone. A control with no defect is then accepted.
func TestWeChatV3RefusedNotifications(t *testing.T) {
	env := gatewaytest.Start(t, v3Config, gatewaytest.Options{})
	const no = "V3REFUSED001"
	if r := env.Do("POST", "/v1/orders", demoKey, v3Order("wxv3", no, "10.00", "")); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	wechatKey, err := wechatv3sim.ReadPrivateKey(v3Dir + "sandbox_wechatpay_private_key.pem")
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := wechatv3sim.ReadPrivateKey(v3Dir + "apiclient_key.pem") // a key WeChat does not sign with
	if err != nil {
		t.Fatal(err)
	}
	tx := func(total int64, txn string) map[string]any {
		return map[string]any{
			"appid": v3AppID, "mchid": v3MchID, "out_trade_no": no, "transaction_id": txn, "trade_type": "JSAPI",
			"trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS", "attach": "",
			"success_time": time.Now().Format(time.RFC3339), "payer": map[string]string{"openid": v3OpenID},
			"amount": map[string]any{"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"},
		}
	}
	const forgedTxn = "4200000000000000000000000099"
	body := func(id string, apiV3Key string, total int64, tamper bool) []byte {
		return v3Notification(t, id, "TRANSACTION.SUCCESS", "transaction", apiV3Key, tx(total, forgedTxn), tamper)
	}
	type notification struct {
		h    http.Header
		body []byte
	}
	signed := func(key *rsa.PrivateKey, serial string, ts int64, b []byte) notification {
		return notification{v3SignHeaders(t, key, serial, ts, b), b}
	}
	now := time.Now().Unix()
	// WeChat's probe: a signature starting WECHATPAY/SIGNTEST/ must fail.
	probe := signed(wechatKey, v3PubKeyID, now, body("evt-probe", v3APIv3Key, 1000, false))
	probe.h.Set("Wechatpay-Signature", "WECHATPAY/SIGNTEST/"+probe.h.Get("Wechatpay-Signature"))
	tests := []struct {
		name    string
		n       notification
		outcome string
		detail  string // why, as the inbox records it
	}{
		{"bad signature", signed(otherKey, v3PubKeyID, now, body("evt-bad-sig", v3APIv3Key, 1000, false)),
			store.OutcomeBadSignature, "signature does not verify"},
		{"signature probe", probe, store.OutcomeBadSignature, "probe"},
		{"stale timestamp (300 s)", signed(wechatKey, v3PubKeyID, now-300, body("evt-stale", v3APIv3Key, 1000, false)),
			store.OutcomeBadSignature, "away from now"},
		{"unknown Wechatpay-Serial", signed(wechatKey, "PUB_KEY_ID_0000000000000099000000000000000002", now, body("evt-serial", v3APIv3Key, 1000, false)),
			store.OutcomeBadSignature, "unknown Wechatpay-Serial"},
		{"tampered ciphertext", signed(wechatKey, v3PubKeyID, now, body("evt-tampered", v3APIv3Key, 1000, true)),
			store.OutcomeBadSignature, "AES-GCM authentication failed"},
		{"another APIv3 key", signed(wechatKey, v3PubKeyID, now, body("evt-other-key", v3SPAPIv3Key, 1000, false)),
			store.OutcomeBadSignature, "AES-GCM authentication failed"},
		{"signed but not the order's amount", signed(wechatKey, v3PubKeyID, now, body("evt-amount", v3APIv3Key, 1, false)),
			store.OutcomeAmountMismatch, "amount 0.01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, ack := postNotify(t, env.URL+"/notify/wxv3", tt.n.h, tt.n.body)
			var a struct{ Code, Message string }
			if status < 400 || json.Unmarshal(ack, &a) != nil || a.Code != "FAIL" {
				t.Fatalf("ack %d %s, want 4xx/5xx with code FAIL", status, ack)
			}
			rows := v3Inbox(t, env.App.Store, "wxv3")
			rec := rows[len(rows)-1]
			// Only the amount case passed verification (and is refused after it).
			verified := tt.outcome == store.OutcomeAmountMismatch
			if rec.Outcome != tt.outcome || !strings.Contains(rec.Detail, tt.detail) || !bytes.Equal(rec.Body, tt.n.body) || rec.Verified != verified {
				t.Fatalf("inbox: outcome %q (want %q), detail %q (want %q), verified %v", rec.Outcome, tt.outcome, rec.Detail, tt.detail, rec.Verified)
			}
		})
	}
	// Untrusted notifications that decrypt make the order due for a poll
	// at once; WeChat still says NOTPAY. Let those polls run, then look.
	deadline := time.Now().Add(2 * time.Second)
	for {
		o, err := env.App.Store.OrderByOutTradeNo(context.Background(), "demo", no)
		if err != nil {
			t.Fatal(err)
		}
		if o.PollAttempts > 0 && o.LeaseToken == "" && o.NextPollAt != nil && o.NextPollAt.After(time.Now()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no poll after the refused notifications: attempts %d", o.PollAttempts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	o := env.Do("GET", "/v1/orders/"+no, demoKey, nil)
	if o.Str("status") != "PAYING" || o.JSON["transaction_id"] != nil || o.JSON["provider_trade_no"] != nil {
		t.Fatalf("order changed: %s", o.Body)
	}
	if n := count(t, env, &store.MerchantEvent{}, ""); n != 0 {
		t.Fatalf("%d merchant events", n)
	}

	// Control: the same helpers, nothing wrong, are accepted, so each
	// refusal above was for its one defect.
	good := signed(wechatKey, v3PubKeyID, time.Now().Unix(), body("evt-good", v3APIv3Key, 1000, false))
	if status, ack := postNotify(t, env.URL+"/notify/wxv3", good.h, good.body); status != http.StatusNoContent {
		t.Fatalf("good notification: %d %s", status, ack)
	}
	if paid := env.WaitStatus(demoKey, no, "PAID", time.Second); paid.Str("transaction_id") != forgedTxn {
		t.Fatalf("paid: %s", paid.Body)
	}
	env.Receiver.Wait("order.paid", no, 1, 3*time.Second)
}

// The simulator switches from platform-certificate to public-key signing
// while orders are in flight: created before and paid after, notifications
// on their way (delay_ms), a refund in PROCESSING. The channel knows both
// keys, so every notification verifies and nothing waits for the poller.
func TestWeChatV3KeyRotationInFlight(t *testing.T) {
	env := gatewaytest.Start(t, v3Config, gatewaytest.Options{})
	const ch = "wxv3-rotate"
	s, _ := env.App.Sandbox.Simulator(wechatv3sim.Kind)
	sim := s.(*wechatv3sim.Simulator)
	nos := []string{"ROTATE000001", "ROTATE000002", "ROTATE000003", "ROTATE000004", "ROTATE000005", "ROTATE000006"}
	create := func(no string) {
		if r := env.Do("POST", "/v1/orders", demoKey, v3Order(ch, no, "3.00", "")); r.Status != 201 {
			t.Fatalf("create %s: %d %s", no, r.Status, r.Body)
		}
	}
	payNow := func(no string) {
		if r := env.Pay(ch, no, nil); r.Status != 200 || deliveries(t, r)[0]["status"] != float64(http.StatusNoContent) {
			t.Fatalf("pay %s: %d %s", no, r.Status, r.Body)
		}
	}
	for _, no := range nos[:5] {
		create(no)
	}
	// Before the switch: paid and notified with the certificate.
	payNow(nos[0])
	payNow(nos[1])
	env.WaitStatus(demoKey, nos[0], "PAID", 2*time.Second)
	// In flight across the switch: a refund WeChat completes 300 ms later,
	// and two payments whose notifications leave 500 ms later (signed at
	// send time, with the key of that moment).
	if r := env.Do("POST", "/v1/orders/"+nos[0]+"/refunds", demoKey, map[string]any{"out_refund_no": nos[0] + "R", "amount": "1.00"}); r.Status != 201 || r.Str("status") != "PROCESSING" {
		t.Fatalf("refund: %d %s", r.Status, r.Body)
	}
	for _, no := range nos[2:4] {
		if r := env.Pay(ch, no, map[string]any{"delay_ms": 500}); r.Status != 200 {
			t.Fatalf("pay %s: %d %s", no, r.Status, r.Body)
		}
	}
	if err := sim.UseKey(ch, wechatv3sim.KeyPublicKey); err != nil {
		t.Fatal(err)
	}
	// After the switch: an order created before, and one created after.
	payNow(nos[4])
	create(nos[5])
	payNow(nos[5])

	for _, no := range nos {
		env.WaitStatus(demoKey, no, "PAID", 3*time.Second)
		env.Receiver.Wait("order.paid", no, 1, 3*time.Second)
	}
	env.Receiver.Wait("refund.succeeded", nos[0], 1, 3*time.Second)

	rows := v3Inbox(t, env.App.Store, ch)
	for i, no := range nos {
		want := v3PubKeyID
		if i < 2 {
			want = v3CertSerial
		}
		recs := inboxOf(rows, orderIDOf(t, env.App.Store, no))
		if len(recs) == 0 || recs[0].Kind != "payment" || recs[0].Outcome != store.OutcomeApplied || serialOf(t, recs[0]) != want {
			t.Fatalf("%s: inbox %+v, want one applied payment notification signed by %s", no, recs, want)
		}
		if n := eventCount(t, env.App.Store, "order.paid", orderIDOf(t, env.App.Store, no)); n != 1 {
			t.Fatalf("%s: %d order.paid events", no, n)
		}
	}
	if recs := inboxOf(rows, orderIDOf(t, env.App.Store, nos[0])); len(recs) != 2 || recs[1].Kind != "refund" || recs[1].Outcome != store.OutcomeApplied || serialOf(t, recs[1]) != v3PubKeyID {
		t.Fatalf("refund notification: %+v", recs)
	}
	for _, r := range rows {
		if r.Outcome != store.OutcomeApplied {
			t.Fatalf("notification %s refused during the rotation: %s %s", r.ID, r.Outcome, r.Detail)
		}
	}
	for _, no := range nos {
		if n := len(env.Receiver.Matching("order.paid", no)); n != 1 {
			t.Fatalf("%s: %d order.paid deliveries", no, n)
		}
	}
}

// misConfig is a gateway whose wechat_v3 channel talks to a standalone
// WeChat simulator (${SIM_URL}) and knows only the WeChat keys in keys.
func misConfig(keys string) string {
	return `
server: {public_url: "${PUBLIC_URL}"}
database: {driver: "${DB_DRIVER}", dsn: "${DB}"}
poller: {interval: 20ms, refund_call_margin: 10ms}
webhooks: {interval: 50ms}
merchants:
  - id: demo
    api_keys: [{key: "` + demoKey + `", scopes: [orders:write, orders:read, refunds:write]}]
    webhook_url: "${WEBHOOK_URL}"
    webhook_secret: "${WEBHOOK_SECRET}"
    channels:
      - id: wxv3-mis
        provider: wechat_v3
        currency: CNY
        timeout: 500ms
        base_url: "${SIM_URL}/sandbox/wechat_v3"
        params:
          appid: "` + v3AppID + `"
          mchid: "1900000309"
          api_v3_key: "` + v3APIv3Key + `"` + v3Merchant + keys + `
`
}

// v3World is WeChat as a standalone simulator holding both of its keys,
// so a gateway's key config can differ from WeChat's and the simulator's
// order book survives gateway restarts; the gateways restart on one
// SQLite store and post to one merchant backend.
type v3World struct {
	t    *testing.T
	sb   *sandbox.Sandbox
	sim  *wechatv3sim.Simulator
	st   *store.Store
	vars map[string]string
	recv *gatewaytest.Receiver
}

func newV3World(t *testing.T, mode wechatv3sim.KeyMode) *v3World {
	t.Helper()
	w := &v3World{t: t, sb: sandbox.New(sandbox.Env{})}
	srv := httptest.NewServer(w.sb)
	t.Cleanup(srv.Close)
	err := w.sb.AddChannel(providers.Channel{ID: "wxv3-mis", Kind: wechatv3sim.Kind, Currency: "CNY", Params: providers.Params{
		"appid": v3AppID, "mchid": "1900000309", "api_v3_key": v3APIv3Key,
		"private_key_file": v3Dir + "apiclient_key.pem", "cert_serial_no": "5D1A2B3C4D5E6F708192A3B4C5D6E7F801234567",
		"wechatpay_public_key_file": v3Dir + "wechatpay_public_key.pem", "wechatpay_public_key_id": v3PubKeyID,
		"platform_cert_files":                 []string{v3Dir + "platform_cert.pem"},
		wechatv3sim.ParamPublicKeyPrivateFile: v3Dir + "sandbox_wechatpay_private_key.pem",
		wechatv3sim.ParamPlatformPrivateFile:  v3Dir + "sandbox_platform_private_key.pem",
		wechatv3sim.ParamSignWith:             string(mode),
		wechatv3sim.ParamRefundDelayMS:        "50",
	}})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := w.sb.Simulator(wechatv3sim.Kind)
	w.sim = s.(*wechatv3sim.Simulator)
	if w.st, err = store.Open("sqlite", filepath.Join(t.TempDir(), "gateway.db"), store.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.st.Close() })
	w.vars = map[string]string{"SIM_URL": srv.URL}
	return w
}

// start runs a gateway whose channel knows the WeChat keys in keys.
func (w *v3World) start(keys string) *gatewaytest.Env {
	w.t.Helper()
	env := gatewaytest.Start(w.t, misConfig(keys), gatewaytest.Options{Store: w.st, Vars: w.vars})
	if w.recv == nil {
		w.recv = env.Receiver
		w.vars["WEBHOOK_URL"] = w.recv.URL()
	}
	return env
}

func (w *v3World) stop(env *gatewaytest.Env) { env.Server.Close(); env.App.Stop() }

// pay makes WeChat's payer pay; it returns the gateway's answer to the
// notification.
func (w *v3World) pay(no string) sandbox.DeliveryResult {
	w.t.Helper()
	res, err := w.sb.Pay(context.Background(), "wxv3-mis", no, sandbox.PayOptions{})
	if err != nil {
		w.t.Fatalf("pay %s: %v", no, err)
	}
	d := res.(map[string]any)["notifications"].([]sandbox.DeliveryResult)
	if len(d) != 1 {
		w.t.Fatalf("pay %s: %d notifications", no, len(d))
	}
	return d[0]
}

// lastRefused checks the newest inbox row: a refused notification whose
// Wechatpay-Serial the gateway did not know (a refused row names no
// order: nothing in it could be trusted).
func (w *v3World) lastRefused(kind, serial string) {
	w.t.Helper()
	rows := v3Inbox(w.t, w.st, "wxv3-mis")
	rec := rows[len(rows)-1]
	if rec.Outcome != store.OutcomeBadSignature || rec.Verified || rec.Kind != kind || !strings.Contains(rec.Detail, `unknown Wechatpay-Serial "`+serial+`"`) {
		w.t.Fatalf("inbox %+v, want a refused_signature %s row naming %s", rec, kind, serial)
	}
}

// onePaid waits until the order is PAID with exactly one order.paid.
func (w *v3World) onePaid(env *gatewaytest.Env, no string) {
	w.t.Helper()
	o := env.WaitStatus(demoKey, no, "PAID", 3*time.Second)
	if !strings.HasPrefix(o.Str("transaction_id"), "4200") {
		w.t.Fatalf("%s: %s", no, o.Body)
	}
	w.recv.Wait("order.paid", no, 1, 3*time.Second)
	if n := eventCount(w.t, w.st, "order.paid", orderIDOf(w.t, w.st, no)); n != 1 || len(w.recv.Matching("order.paid", no)) != 1 {
		w.t.Fatalf("%s: %d order.paid events", no, n)
	}
}

// TestWeChatV3MisconfiguredKeys: a gateway that lacks the key WeChat
// signs with (see v3World).
//
// Part 1, callbacks only. The channel knows only the platform certificate;
// WeChat has moved this merchant's callbacks to the public key. WeChat
// still answers a request with the key the request names in
// Wechatpay-Serial (spec §4.1: the public key only when the request names
// its id), and this gateway names the certificate. So each callback is
// refused (unknown serial) and recorded, the ingress makes the order due
// at once, and the poller's query, answered under the certificate, finds
// it PAID: one order.paid each, no restart needed.
//
// Part 2, callbacks and answers. The gateway restarts knowing only the
// public key, and WeChat signs everything for this merchant with the
// certificate (the simulator is switched back), so the notifications are
// refused and the poller's queries fail too (PROVIDER_BAD_RESPONSE): the
// orders stay PAYING, nothing is lost, nothing is sent. The operator adds
// the certificate (config reload is not supported: a restart on the same
// database); the restarted gateway's poller finds both orders PAID, one
// order.paid each. The backstop after the first poll is cut to 100 ms so
// the restarted poller gets to them at once.
func TestWeChatV3MisconfiguredKeys(t *testing.T) {
	defer func(s []time.Duration) { orders.Backstop = s }(orders.Backstop)
	orders.Backstop = []time.Duration{10 * time.Second, 100 * time.Millisecond}
	w := newV3World(t, wechatv3sim.KeyPublicKey)
	create := func(env *gatewaytest.Env, no, amount string) {
		t.Helper()
		if r := env.Do("POST", "/v1/orders", demoKey, v3Order("wxv3-mis", no, amount, "")); r.Status != 201 {
			t.Fatalf("create %s: %d %s", no, r.Status, r.Body)
		}
	}
	refusedPay := func(no, serial string) {
		t.Helper()
		if d := w.pay(no); d.Status < 400 || !strings.Contains(d.Body, `"FAIL"`) {
			t.Fatalf("pay %s: the gateway answered %+v, want a refusal", no, d)
		}
		w.lastRefused("payment", serial)
	}

	// Part 1: certificate-only gateway, public-key callbacks.
	g1 := w.start(v3PlatformCert)
	part1 := []string{"MISCONF00001", "MISCONF00002"}
	for _, no := range part1 {
		create(g1, no, "5.00")
		refusedPay(no, v3PubKeyID)
	}
	for _, no := range part1 {
		w.onePaid(g1, no)
	}
	w.stop(g1)

	// Part 2: public-key-only gateway; WeChat signs with the certificate.
	g2 := w.start(v3PublicKey)
	part2 := []string{"MISCONF00003", "MISCONF00004"}
	for _, no := range part2 {
		create(g2, no, "6.00")
	}
	if err := w.sim.UseKey("wxv3-mis", wechatv3sim.KeyPlatformCert); err != nil {
		t.Fatal(err)
	}
	for _, no := range part2 {
		refusedPay(no, v3CertSerial)
	}
	if r := g2.Do("GET", "/v1/orders/"+part2[0]+"?refresh=true", demoKey, nil); r.Status != 502 || r.ErrCode() != "PROVIDER_UNAVAILABLE" {
		t.Fatalf("refresh when the answer cannot be verified: %d %s", r.Status, r.Body)
	}
	// The poller tries (made due by the refused callbacks) and fails.
	deadline := time.Now().Add(3 * time.Second)
	for _, no := range part2 {
		for {
			o, err := w.st.OrderByOutTradeNo(context.Background(), "demo", no)
			if err != nil {
				t.Fatal(err)
			}
			if o.Status != "PAYING" || o.TransactionID != nil {
				t.Fatalf("%s settled without a verified answer: %s", no, o.Status)
			}
			if o.PollAttempts >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d polls, want the poller to have tried twice", no, o.PollAttempts)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	w.stop(g2)
	if n := count(t, g2, &store.MerchantEvent{}, "order_id IN ?", []string{orderIDOf(t, w.st, part2[0]), orderIDOf(t, w.st, part2[1])}); n != 0 {
		t.Fatalf("%d merchant events for unsettled orders", n)
	}

	// The operator adds the certificate and restarts on the same database.
	g3 := w.start(v3BothKeys)
	for _, no := range part2 {
		w.onePaid(g3, no)
	}
}

// An answer WeChat signs with a key the gateway lacks fails verification
// (PROVIDER_BAD_RESPONSE). That is not WeChat refusing: the prepay or the
// refund may well have gone through. So a create answers 502 and the
// order stays PAYING (the same request succeeds once the key is added),
// and a refund stays PROCESSING with its amount reserved until the
// gateway can read WeChat again, then settles: no second refund of money
// already on its way, no order failed for good by a key mix-up.
func TestWeChatV3UnverifiableAnswersLeaveTheOutcomeOpen(t *testing.T) {
	defer func(s []time.Duration) { orders.RefundBackstop = s }(orders.RefundBackstop)
	orders.RefundBackstop = []time.Duration{100 * time.Millisecond}
	w := newV3World(t, wechatv3sim.KeyPublicKey)
	g1 := w.start(v3PublicKey)
	const paid, unpaid = "UNVERIFIED01", "UNVERIFIED02"
	if r := g1.Do("POST", "/v1/orders", demoKey, v3Order("wxv3-mis", paid, "5.00", "")); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if d := w.pay(paid); d.Status != http.StatusNoContent {
		t.Fatalf("pay: %+v", d)
	}
	w.onePaid(g1, paid)

	// From now on WeChat signs with the certificate, which g1 lacks.
	if err := w.sim.UseKey("wxv3-mis", wechatv3sim.KeyPlatformCert); err != nil {
		t.Fatal(err)
	}
	body := v3Order("wxv3-mis", unpaid, "7.00", "")
	if r := g1.Do("POST", "/v1/orders", demoKey, body); r.Status != 502 || r.ErrCode() != "PROVIDER_UNAVAILABLE" {
		t.Fatalf("create with an unverifiable answer: %d %s", r.Status, r.Body)
	}
	if o := g1.Do("GET", "/v1/orders/"+unpaid, demoKey, nil); o.Str("status") != "PAYING" || o.JSON["pay_params"] != nil {
		t.Fatalf("order after an unverifiable answer: %s", o.Body)
	}
	rf := g1.Do("POST", "/v1/orders/"+paid+"/refunds", demoKey, map[string]any{"out_refund_no": paid + "R1", "amount": "2.00"})
	if rf.Status != 201 || rf.Str("status") != "PROCESSING" {
		t.Fatalf("refund with an unverifiable answer: %d %s", rf.Status, rf.Body)
	}
	if over := g1.Do("POST", "/v1/orders/"+paid+"/refunds", demoKey, map[string]any{"out_refund_no": paid + "R2", "amount": "5.00"}); over.Status != 422 || over.ErrCode() != "REFUND_EXCEEDS_REFUNDABLE" {
		t.Fatalf("second refund while the first is under way: %d %s", over.Status, over.Body)
	}
	// WeChat completes the refund; its REFUND.SUCCESS is refused too, and
	// the poller's refund queries (once no first call can still be running:
	// 2 × 500ms + 10ms) fail.
	deadline := time.Now().Add(3 * time.Second)
	for {
		rows := v3Inbox(t, w.st, "wxv3-mis")
		if last := rows[len(rows)-1]; last.Kind == "refund" {
			w.lastRefused("refund", v3CertSerial)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no REFUND.SUCCESS notification arrived")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		r, err := w.st.RefundByOutRefundNo(context.Background(), "demo", paid+"R1")
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != "PROCESSING" {
			t.Fatalf("refund settled without a verified answer: %s", r.Status)
		}
		if r.PollAttempts >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refund polled %d times, want 1", r.PollAttempts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.stop(g1)

	// The operator adds the certificate and restarts on the same database.
	g2 := w.start(v3BothKeys)
	if r := g2.Do("POST", "/v1/orders", demoKey, body); r.Status != 200 || r.JSON["pay_params"] == nil || r.Str("status") != "PAYING" {
		t.Fatalf("the same create again: %d %s", r.Status, r.Body)
	}
	ev := w.recv.Wait("refund.succeeded", paid, 1, 3*time.Second)[0]
	if !ev.SignatureOK || ev.Data["amount"] != "2.00" || ev.Data["status"] != "SUCCEEDED" {
		t.Fatalf("refund.succeeded: %v", ev.Data)
	}
	if o := g2.Do("GET", "/v1/orders/"+paid, demoKey, nil); o.Str("status") != "PAID" || o.Str("refunded_amount") != "2.00" {
		t.Fatalf("after the refund: %s", o.Body)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(w.recv.Matching("refund.succeeded", paid)); n != 1 {
		t.Fatalf("%d refund.succeeded events", n)
	}
}
