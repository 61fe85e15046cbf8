package gateway_test

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway/gatewaytest"
	_ "github.com/paygate/paygate/providers/all"
	"github.com/paygate/paygate/providers/sandbox/wechatv2sim"
	"github.com/paygate/paygate/store"
)

const v2Key = "192006250b4c09247ec02edce69f6a2d"

// v2Config is the shipped demo's shape: a direct channel and a
// service-provider channel, both on the in-process sandbox.
const v2Config = `
server: {public_url: "${PUBLIC_URL}"}
database: {driver: "${DB_DRIVER}", dsn: "${DB}"}
sandbox: true
poller: {disabled: true}
webhooks: {interval: 50ms}
merchants:
  - id: demo
    api_keys: [{key: "` + demoKey + `", scopes: [orders:write, orders:read, refunds:write]}]
    webhook_url: "${WEBHOOK_URL}"
    webhook_secret: "${WEBHOOK_SECRET}"
    channels:
      - id: wxv2
        provider: wechat_v2
        base_url: sandbox
        params: {appid: "wxd930ea5d5a258f4f", mch_id: "10000100", api_key: "` + v2Key + `", sign_type: MD5}
      - id: wxv2-sp
        provider: wechat_v2
        base_url: sandbox
        params: {appid: "wx8888888888888888", mch_id: "1230000109", sub_mch_id: "1900000110", sub_appid: "wxd930ea5d5a258f4f",
                 api_key: "sp0key0000000000000000000000000a", sign_type: HMAC-SHA256}
`

func v2Order(channel, no, amount string) map[string]any {
	return map[string]any{
		"channel": channel, "out_trade_no": no, "amount": amount, "currency": "CNY",
		"description": "Coffee", "payer": map[string]any{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
	}
}

func TestWeChatV2EndToEnd(t *testing.T) {
	env := gatewaytest.Start(t, v2Config, gatewaytest.Options{})
	for _, channel := range []string{"wxv2", "wxv2-sp"} {
		t.Run(channel, func(t *testing.T) {
			no := strings.ToUpper(strings.ReplaceAll(channel, "-", "")) + "E2E0001"
			created := env.Do("POST", "/v1/orders", demoKey, v2Order(channel, no, "12.34"))
			if created.Status != 201 {
				t.Fatalf("create: %d %s", created.Status, created.Body)
			}
			pp := created.JSON["pay_params"].(map[string]any)
			if pp["appId"] != "wxd930ea5d5a258f4f" || !strings.HasPrefix(pp["package"].(string), "prepay_id=") || pp["paySign"] == "" {
				t.Fatalf("pay params: %v", pp)
			}
			if r := env.Pay(channel, no, nil); r.Status != 200 {
				t.Fatalf("sandbox pay: %d %s", r.Status, r.Body)
			}
			paid := env.WaitStatus(demoKey, no, "PAID", 2*time.Second)
			txn := paid.Str("transaction_id")
			if !strings.HasPrefix(txn, "4200") {
				t.Fatalf("transaction id %q", txn)
			}
			ev := env.Receiver.Wait("order.paid", no, 1, 3*time.Second)[0]
			if !ev.SignatureOK || ev.Data["transaction_id"] != txn || ev.Data["amount"] != "12.34" {
				t.Fatalf("merchant event: ok=%v %v", ev.SignatureOK, ev.Data)
			}
			// Lookup by WeChat's number.
			found := env.Do("GET", "/v1/orders?transaction_id="+txn, demoKey, nil)
			if data := found.JSON["data"].([]any); len(data) != 1 || data[0].(map[string]any)["out_trade_no"] != no {
				t.Fatalf("lookup by transaction_id: %s", found.Body)
			}
			// Refund: WeChat accepts, then notifies (req_info) the success.
			r := env.Do("POST", "/v1/orders/"+no+"/refunds", demoKey, map[string]any{"out_refund_no": no + "R1", "amount": "2.34"})
			if r.Status != 201 || (r.Str("status") != "PROCESSING" && r.Str("status") != "SUCCEEDED") {
				t.Fatalf("refund: %d %s", r.Status, r.Body)
			}
			refundEv := env.Receiver.Wait("refund.succeeded", no, 1, 3*time.Second)[0]
			if !refundEv.SignatureOK || refundEv.Data["amount"] != "2.34" || refundEv.Data["out_refund_no"] != no+"R1" {
				t.Fatalf("refund event: %v", refundEv.Data)
			}
			o := env.Do("GET", "/v1/orders/"+no, demoKey, nil)
			if o.Str("status") != "PAID" || o.Str("refunded_amount") != "2.34" {
				t.Fatalf("after refund: %s", o.Body)
			}
			if got := env.Do("GET", "/v1/orders/"+no+"/refunds/"+no+"R1", demoKey, nil); got.Str("status") != "SUCCEEDED" || got.JSON["provider_refund_no"] == nil {
				t.Fatalf("refund get: %s", got.Body)
			}
		})
	}
}

func TestWeChatV2DuplicateNotificationsOneEvent(t *testing.T) {
	env := gatewaytest.Start(t, v2Config, gatewaytest.Options{})
	const no = "V2DUP00001"
	if r := env.Do("POST", "/v1/orders", demoKey, v2Order("wxv2", no, "1.00")); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	r := env.Pay("wxv2", no, map[string]any{"duplicates": 4})
	deliveries, _ := r.JSON["notifications"].([]any)
	if r.Status != 200 || len(deliveries) != 5 {
		t.Fatalf("sandbox pay: %d %s", r.Status, r.Body)
	}
	for _, d := range deliveries {
		if body := d.(map[string]any)["body"].(string); !strings.Contains(body, "<return_code><![CDATA[SUCCESS]]>") {
			t.Fatalf("ack %q, want SUCCESS for every copy", body)
		}
	}
	env.WaitStatus(demoKey, no, "PAID", time.Second)
	env.Receiver.Wait("order.paid", no, 1, 3*time.Second)
	time.Sleep(300 * time.Millisecond)
	if got := env.Receiver.Matching("order.paid", no); len(got) != 1 {
		t.Fatalf("%d order.paid events, want 1", len(got))
	}
	var outcomes []string
	env.App.Store.DB().Model(&store.Notification{}).Where("channel_id = ?", "wxv2").Pluck("outcome", &outcomes)
	sort.Strings(outcomes)
	if fmt.Sprint(outcomes) != "[applied duplicate duplicate duplicate duplicate]" {
		t.Fatalf("inbox outcomes %v", outcomes)
	}
}

// v2Notification builds a pay notification as WeChat would, signed with key.
func v2Notification(t *testing.T, fields map[string]string, key string) string {
	t.Helper()
	doc := map[string]string{
		"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": "wxd930ea5d5a258f4f", "mch_id": "10000100",
		"nonce_str": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "trade_type": "JSAPI",
		"bank_type": "OTHERS", "fee_type": "CNY", "time_end": "20261128120000",
	}
	for k, v := range fields {
		doc[k] = v
	}
	sig, err := wechatv2sim.Signature(doc, key, "MD5")
	if err != nil {
		t.Fatal(err)
	}
	doc["sign"] = sig
	return toXML(doc)
}

func toXML(doc map[string]string) string {
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("<xml>")
	for _, k := range keys {
		fmt.Fprintf(&b, "<%s><![CDATA[%s]]></%s>", k, doc[k], k)
	}
	b.WriteString("</xml>")
	return b.String()
}

func TestWeChatV2RefusedNotifications(t *testing.T) {
	env := gatewaytest.Start(t, v2Config, gatewaytest.Options{})
	const no = "V2BAD00001"
	if r := env.Do("POST", "/v1/orders", demoKey, v2Order("wxv2", no, "10.00")); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	good := map[string]string{"out_trade_no": no, "total_fee": "1000", "cash_fee": "1000", "transaction_id": "4200000001202611280000000001"}
	forged := v2Notification(t, good, "ffffffffffffffffffffffffffffffff")
	tampered := strings.Replace(v2Notification(t, good, v2Key), "<total_fee><![CDATA[1000]]>", "<total_fee><![CDATA[1]]>", 1)
	wrongAmount := v2Notification(t, map[string]string{"out_trade_no": no, "total_fee": "1", "cash_fee": "1", "transaction_id": "4200000001202611280000000002"}, v2Key)
	unknown := v2Notification(t, map[string]string{"out_trade_no": "NOSUCHORDER1", "total_fee": "1000", "transaction_id": "4200000001202611280000000003"}, v2Key)
	otherMch := v2Notification(t, map[string]string{"out_trade_no": no, "total_fee": "1000", "mch_id": "10000999", "transaction_id": "4200000001202611280000000004"}, v2Key)

	tests := []struct {
		name, body, outcome string
	}{
		{"forged signature", forged, store.OutcomeBadSignature},
		{"tampered amount", tampered, store.OutcomeBadSignature},
		{"signed but not the order's amount", wrongAmount, store.OutcomeAmountMismatch},
		{"unknown order", unknown, store.OutcomeUnknownOrder},
		{"another merchant's notification", otherMch, store.OutcomeChannelMismatch},
		{"malformed XML", "<xml><return_code>SUCCESS</return_code>", store.OutcomeMalformed},
		{"DTD", `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "1000">]><xml><total_fee>&e;</total_fee></xml>`, store.OutcomeMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(env.URL+"/notify/wxv2", "text/xml", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			ack, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var a struct {
				ReturnCode string `xml:"return_code"`
			}
			if err := xml.Unmarshal(ack, &a); err != nil || a.ReturnCode != "FAIL" {
				t.Fatalf("ack %q, want return_code FAIL", ack)
			}
			var rec store.Notification
			if err := env.App.Store.DB().Where("channel_id = ?", "wxv2").Order("received_at DESC, id DESC").Take(&rec).Error; err != nil {
				t.Fatal(err)
			}
			if rec.Outcome != tt.outcome || string(rec.Body) != tt.body {
				t.Fatalf("inbox outcome %q, want %q", rec.Outcome, tt.outcome)
			}
		})
	}
	o := env.Do("GET", "/v1/orders/"+no, demoKey, nil)
	if o.Str("status") != "PAYING" || o.JSON["transaction_id"] != nil {
		t.Fatalf("order changed: %s", o.Body)
	}
	if n := count(t, env, &store.MerchantEvent{}, ""); n != 0 {
		t.Fatalf("%d merchant events", n)
	}
}
