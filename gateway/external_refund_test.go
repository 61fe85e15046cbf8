package gateway_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// consoleRefund refunds in the WeChat v2 sandbox's merchant platform,
// past the gateway; WeChat sends its refund notification 1 + dups times.
func consoleRefund(t *testing.T, env *gatewaytest.Env, channel, no string, fen int64, dups int) string {
	t.Helper()
	r := env.Do("POST", "/sandbox/refund/"+channel+"/"+no, "", map[string]any{"amount_minor": fen, "duplicates": dups})
	if r.Status != 200 || r.Str("out_refund_no") == "" {
		t.Fatalf("console refund: %d %s", r.Status, r.Body)
	}
	return r.Str("out_refund_no")
}

// A refund made in WeChat's merchant platform reaches the gateway only as
// a (verified, encrypted) refund notification, five copies at once. The
// gateway records it as an external refund, settles the order's refunded
// amount once, tells the merchant once, and offers only the rest for
// refund. Before, the notification was refused as unknown_order, the
// order stayed at 0.00 refunded and the whole amount could be refunded
// again.
func TestConsoleRefundNotificationSettlesTheOrder(t *testing.T) {
	env := gatewaytest.Start(t, v2Config, gatewaytest.Options{})
	const no = "CONSOLE001"
	if r := env.Do("POST", "/v1/orders", demoKey, v2Order("wxv2", no, "10.00")); r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if r := env.Pay("wxv2", no, nil); r.Status != 200 {
		t.Fatalf("pay: %d %s", r.Status, r.Body)
	}
	env.WaitStatus(demoKey, no, "PAID", 3*time.Second)

	refundNo := consoleRefund(t, env, "wxv2", no, 300, 4)
	eventually(t, 3*time.Second, func() bool {
		return env.Do("GET", "/v1/orders/"+no, demoKey, nil).Str("refunded_amount") == "3.00"
	}, func() string { return string(env.Do("GET", "/v1/orders/"+no, demoKey, nil).Body) })
	got := env.Receiver.Wait("refund.succeeded", no, 1, 3*time.Second)
	r := env.Do("GET", "/v1/orders/"+no+"/refunds/"+refundNo, demoKey, nil)
	if r.Status != 200 || r.Str("status") != "SUCCEEDED" || r.Str("amount") != "3.00" || r.Str("provider_refund_no") == "" || r.JSON["external"] != true {
		t.Fatalf("the external refund: %d %s", r.Status, r.Body)
	}
	if got[0].Data["out_refund_no"] != refundNo || got[0].Data["amount"] != "3.00" || got[0].Sequence != 2 || got[0].OrderStatus != "PAID" {
		t.Fatalf("refund.succeeded: %s", got[0].Body)
	}
	var applied, dup int64
	eventually(t, 3*time.Second, func() bool {
		applied = count(t, env, &store.Notification{}, "kind = 'refund' AND outcome = ?", store.OutcomeApplied)
		dup = count(t, env, &store.Notification{}, "kind = 'refund' AND outcome = ?", store.OutcomeDuplicate)
		return applied+dup == 5
	}, func() string { return fmt.Sprintf("%d applied, %d duplicate", applied, dup) })
	if applied != 1 {
		t.Fatalf("%d of 5 copies applied, want 1 (and 4 duplicates): %d", applied, dup)
	}

	// Only the rest can still be refunded, by the API or in the console.
	if r := env.Do("POST", "/v1/orders/"+no+"/refunds", demoKey, map[string]any{"out_refund_no": "CONSOLE-API1", "amount": "8.00"}); r.Status != 422 || r.ErrCode() != "REFUND_EXCEEDS_REFUNDABLE" {
		t.Fatalf("refund of 8.00 after 3.00 refunded in the console: %d %s", r.Status, r.Body)
	}
	consoleRefund(t, env, "wxv2", no, 700, 0)
	env.WaitStatus(demoKey, no, "REFUNDED", 3*time.Second)
	all := env.Receiver.Wait("refund.succeeded", no, 2, 3*time.Second)
	if last := all[1]; last.Sequence != 3 || last.OrderStatus != "REFUNDED" || last.Data["amount"] != "7.00" {
		t.Fatalf("second refund.succeeded: %s", last.Body)
	}
	time.Sleep(100 * ms)
	if n := len(env.Receiver.Matching("refund.succeeded", no)); n != 2 {
		t.Fatalf("%d refund.succeeded events for two refunds", n)
	}
	if o := env.Do("GET", "/v1/orders/"+no, demoKey, nil); o.Str("refunded_amount") != "10.00" {
		t.Fatalf("fully refunded order: %s", o.Body)
	}
}

// Refunds never exceed what was paid, whatever reports them: a verified
// report of an external refund larger than what is left unrefunded is
// refused and recorded, and changes nothing.
func TestExternalRefundsNeverExceedThePayment(t *testing.T) {
	env := startCore(t)
	const no = "EXTREF0001"
	createOn(t, env, "fake-1", no, "10.00")
	if code, _ := notify(t, env, "fake-1", paidNotification(no, 1000)); code != 200 {
		t.Fatalf("paid: %d", code)
	}
	refund := func(refundNo string, fen int64) int {
		n := gatewaytest.FakeNotification{Account: "acct-1", OutTradeNo: no, Status: "SUCCEEDED", Amount: fen, Currency: "CNY", OutRefundNo: refundNo}
		n.Sign(fakeSecret)
		code, _ := notify(t, env, "fake-1", n)
		return code
	}
	if code := refund("EXTERNAL-1", 600); code != 200 {
		t.Fatalf("first external refund: %d", code)
	}
	if code := refund("EXTERNAL-2", 600); code == 200 {
		t.Fatal("a second external refund of 6.00 on a 10.00 order with 6.00 refunded was acknowledged")
	}
	if n := count(t, env, &store.Notification{}, "outcome = ?", store.OutcomeAmountMismatch); n != 1 {
		t.Fatalf("%d refused notifications recorded, want 1", n)
	}
	if o := env.Do("GET", "/v1/orders/"+no, demoKey, nil); o.Str("refunded_amount") != "6.00" || o.Str("status") != "PAID" {
		t.Fatalf("after the refused report: %s", o.Body)
	}
	if r := env.Do("GET", "/v1/orders/"+no+"/refunds/EXTERNAL-2", demoKey, nil); r.Status != 404 {
		t.Fatalf("the refused refund was recorded: %d %s", r.Status, r.Body)
	}
	if code := refund("EXTERNAL-3", 400); code != 200 {
		t.Fatalf("external refund of the rest: %d", code)
	}
	env.WaitStatus(demoKey, no, "REFUNDED", 3*time.Second)
	if n := count(t, env, &store.MerchantEvent{}, "type = 'refund.succeeded'"); n != 2 {
		t.Fatalf("%d refund.succeeded events, want 2", n)
	}
}

// A failed refund the gateway never knew moves no money: acknowledged,
// recorded as ignored, nothing else.
func TestUnknownFailedRefundIsIgnored(t *testing.T) {
	env := startCore(t)
	const no = "EXTREF0002"
	createOn(t, env, "fake-1", no, "10.00")
	if code, _ := notify(t, env, "fake-1", paidNotification(no, 1000)); code != 200 {
		t.Fatalf("paid: %d", code)
	}
	n := gatewaytest.FakeNotification{Account: "acct-1", OutTradeNo: no, Status: "FAILED", Amount: 500, Currency: "CNY", OutRefundNo: "EXTERNAL-F"}
	n.Sign(fakeSecret)
	if code, _ := notify(t, env, "fake-1", n); code != 200 {
		t.Fatalf("failed external refund: %d", code)
	}
	if c := count(t, env, &store.Notification{}, "outcome = ?", store.OutcomeIgnored); c != 1 {
		t.Fatalf("%d ignored notifications, want 1", c)
	}
	if c := count(t, env, &store.Refund{}, ""); c != 0 {
		t.Fatalf("%d refunds recorded", c)
	}
}

// A provider whose refund notification is only a hint: the gateway asks
// the provider about the refund it names, and records what the provider
// confirms as an external refund, once.
func TestRefundAQueryRevealsIsRecorded(t *testing.T) {
	env := startCore(t)
	const no = "EXTREF0003"
	createOn(t, env, "fake-1", no, "10.00")
	if code, _ := notify(t, env, "fake-1", paidNotification(no, 1000)); code != 200 {
		t.Fatalf("paid: %d", code)
	}
	gatewaytest.Book("fake-1").AddConsoleRefund("CONSOLE-Q1", providers.Money{Minor: 250, Currency: "CNY"}, providers.RefundSucceeded)
	hint := gatewaytest.FakeNotification{Account: "acct-1", OutTradeNo: no, OutRefundNo: "CONSOLE-Q1", Hint: true}
	hint.Sign(fakeSecret)
	for range 2 {
		if code, _ := notify(t, env, "fake-1", hint); code != 200 {
			t.Fatalf("hint: %d", code)
		}
	}
	if o := env.Do("GET", "/v1/orders/"+no, demoKey, nil); o.Str("refunded_amount") != "2.50" {
		t.Fatalf("after the provider confirmed the refund: %s", o.Body)
	}
	r := env.Do("GET", "/v1/orders/"+no+"/refunds/CONSOLE-Q1", demoKey, nil)
	if r.Status != 200 || r.Str("status") != "SUCCEEDED" || r.JSON["external"] != true {
		t.Fatalf("refund: %d %s", r.Status, r.Body)
	}
	if n := count(t, env, &store.MerchantEvent{}, "type = 'refund.succeeded'"); n != 1 {
		t.Fatalf("%d refund.succeeded events, want 1", n)
	}
}
