package gateway_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
	"github.com/paygate/paygate/providers/sandbox/sandboxbill"
)

// reconChannel describes one channel for the reconciliation scenario.
type reconChannel struct {
	id       string
	currency string
	loc      *time.Location // the statement day's zone
	order    func(no, amount string) map[string]any
	// payerAppID places the order made behind the gateway's back.
	payerAppID string
	// paysNotify: the provider calls back (else the poller would have to
	// find payments; the scenario pays with the notification lost anyway).
	paysNotify bool
	summary    bool // the statement has a summary line
}

var shanghai = time.FixedZone("Asia/Shanghai", 8*3600)

// waitPastMidnight keeps a scenario off a statement day's last minutes:
// its payments and its run must fall on the same day.
func waitPastMidnight(t *testing.T, loc *time.Location) providers.Day {
	t.Helper()
	now := time.Now().In(loc)
	if end := providers.DayOf(now).End(loc); end.Sub(now) < 2*time.Minute {
		time.Sleep(end.Sub(now) + time.Second)
	}
	return providers.DayOf(time.Now().In(loc))
}

// reconScenario runs the scenario on one channel through the
// sandbox: payments A (notified), B (paid, notification lost), C (paid and
// partly refunded), D (amount altered at the provider), E (paid only in
// the gateway: the provider forgets it) and X (paid at the provider for an
// order the gateway never made). The run must report matched = 3 (A, C,
// C's refund) and exactly one difference of each kind, heal B (PAID, one
// order.paid), and total what the statement's summary line says.
func reconScenario(t *testing.T, env *gatewaytest.Env, ch reconChannel, prefix string) string {
	t.Helper()
	day := waitPastMidnight(t, ch.loc)
	no := func(s string) string { return prefix + s }
	for _, s := range []string{"A", "B", "C", "D", "E"} {
		if r := env.Do("POST", "/v1/orders", demoKey, ch.order(no(s), "10.00")); r.Status != 201 {
			t.Fatalf("create %s: %d %s", s, r.Status, r.Body)
		}
	}
	for _, s := range []string{"A", "C", "D", "E"} {
		if r := env.Pay(ch.id, no(s), nil); r.Status != 200 {
			t.Fatalf("pay %s: %d %s", s, r.Status, r.Body)
		}
		if !ch.paysNotify { // no callbacks: the gateway learns by asking
			env.Do("GET", "/v1/orders/"+no(s)+"?refresh=true", demoKey, nil)
		}
		env.WaitStatus(demoKey, no(s), "PAID", 5*time.Second)
	}
	if r := env.Pay(ch.id, no("B"), map[string]any{"notify": false}); r.Status != 200 {
		t.Fatalf("pay B without notification: %d %s", r.Status, r.Body)
	}
	if r := env.Do("POST", "/v1/orders/"+no("C")+"/refunds", demoKey, map[string]any{"out_refund_no": no("CR1"), "amount": "2.50"}); r.Status != 201 {
		t.Fatalf("refund C: %d %s", r.Status, r.Body)
	}
	waitRefund(t, env, no("C"), no("CR1"))
	if r := env.Do("POST", "/sandbox/book/"+ch.id+"/"+no("D"), "", map[string]any{"amount": "9.99"}); r.Status != 200 {
		t.Fatalf("alter D: %d %s", r.Status, r.Body)
	}
	if r := env.Do("POST", "/sandbox/book/"+ch.id+"/"+no("E"), "", map[string]any{"forget": true}); r.Status != 200 {
		t.Fatalf("forget E: %d %s", r.Status, r.Body)
	}
	// X: an order placed and paid at the provider by someone else.
	provCh, _ := env.App.Orders.Channel(ch.id)
	amt, _ := providers.ParseAmount("7.00", ch.currency)
	req := providers.CreateOrderRequest{OutTradeNo: no("X"), Amount: amt, Description: "elsewhere", PayMethod: "wechat",
		PayerOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", PayerAppID: ch.payerAppID, ClientIP: "127.0.0.1",
		ExpiresAt: time.Now().Add(time.Hour), NotifyURL: provCh.NotifyURL}
	if _, err := provCh.Provider.CreateOrder(context.Background(), req); err != nil {
		t.Fatalf("order X at the provider: %v", err)
	}
	if _, err := env.App.Sandbox.Pay(context.Background(), ch.id, no("X"), sandbox.PayOptions{SkipNotify: true}); err != nil {
		t.Fatalf("pay X: %v", err)
	}
	if got := env.Do("GET", "/v1/orders/"+no("B"), demoKey, nil); got.Str("status") != "PAYING" {
		t.Fatalf("B before reconciliation: %s", got.Body)
	}

	run := env.Do("POST", "/v1/reconciliations", demoKey, map[string]any{"channel": ch.id, "date": day.String()})
	if run.Status != 201 || run.Str("status") != "DONE" {
		t.Fatalf("run: %d %s", run.Status, run.Body)
	}
	counts := run.JSON["counts"].(map[string]any)
	want := map[string]float64{"matched": 3, "missing_at_gateway": 1, "missing_at_provider": 1, "amount_mismatch": 1, "status_mismatch": 1, "healed": 1}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("counts.%s = %v, want %v (all: %v)", k, counts[k], v, counts)
		}
	}
	st := run.JSON["statement"].(map[string]any)
	// The statement: A, B, C, D (9.99), X and C's refund; E is gone.
	pays := st["payments"].(map[string]any)
	refunds := st["refunds"].(map[string]any)
	if st["rows"] != 6.0 || pays["count"] != 5.0 || pays["amount"] != "46.99" || refunds["count"] != 1.0 || refunds["amount"] != "2.50" || st["currency"] != ch.currency {
		t.Errorf("statement %v", st)
	}
	if ch.summary {
		sum, _ := st["summary"].(map[string]any)
		if sum == nil || sum["rows"] != st["rows"] || !decEq(sum["payments"], pays["settled"]) || !decEq(sum["refunds"], refunds["settled"]) || !decEq(sum["fees"], st["fees"]) {
			t.Errorf("totals %v do not equal the summary line %v", st, sum)
		}
	}

	// B was healed through the normal transition: PAID, one order.paid.
	env.WaitStatus(demoKey, no("B"), "PAID", time.Second)
	env.Receiver.Wait("order.paid", no("B"), 1, 5*time.Second)
	runID := run.Str("id")
	waitRunEvent(t, env, runID, 1)

	diffs := env.Do("GET", "/v1/reconciliations/"+runID+"/differences", demoKey, nil)
	data, _ := diffs.JSON["data"].([]any)
	if diffs.Status != 200 || len(data) != 4 || diffs.JSON["next_cursor"] != nil {
		t.Fatalf("differences: %d %s", diffs.Status, diffs.Body)
	}
	byKind := map[string]map[string]any{}
	for _, d := range data {
		m := d.(map[string]any)
		byKind[m["kind"].(string)] = m
	}
	checkDiff := func(kind, outTradeNo string, healed bool, gateway, provider bool) map[string]any {
		d := byKind[kind]
		if d == nil || d["out_trade_no"] != outTradeNo || d["healed"] != healed || (d["gateway"] != nil) != gateway || (d["provider"] != nil) != provider {
			t.Errorf("%s: %v", kind, d)
		}
		return d
	}
	checkDiff("status_mismatch", no("B"), true, true, true)
	am := checkDiff("amount_mismatch", no("D"), false, true, true)
	if am != nil && (am["gateway"].(map[string]any)["amount"] != "10.00" || am["provider"].(map[string]any)["amount"] != "9.99") {
		t.Errorf("amount mismatch sides: %v", am)
	}
	checkDiff("missing_at_provider", no("E"), false, true, false)
	checkDiff("missing_at_gateway", no("X"), false, false, true)

	// Paged one at a time: the same four, in order.
	var paged []string
	for cursor := ""; ; {
		path := "/v1/reconciliations/" + runID + "/differences?limit=1"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		p := env.Do("GET", path, demoKey, nil)
		for _, d := range p.JSON["data"].([]any) {
			paged = append(paged, d.(map[string]any)["kind"].(string))
		}
		next, _ := p.JSON["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(paged) != 4 {
		t.Errorf("paged differences %v", paged)
	}
	// CSV: the header and one line per difference.
	csvResp := env.Do("GET", "/v1/reconciliations/"+runID+"/differences?format=csv", demoKey, nil)
	recs, err := csv.NewReader(strings.NewReader(string(csvResp.Body))).ReadAll()
	if err != nil || len(recs) != 5 || recs[0][0] != "kind" || recs[0][13] != "note" {
		t.Errorf("csv (%v): %q", err, csvResp.Body)
	}

	// Judged again: B now agrees; no second order.paid.
	again := env.Do("POST", "/v1/reconciliations/"+runID+"/rejudge", demoKey, nil)
	ac := again.JSON["counts"].(map[string]any)
	if again.Status != 200 || ac["matched"] != 4.0 || ac["status_mismatch"] != 0.0 || ac["amount_mismatch"] != 1.0 {
		t.Errorf("rejudge: %d %s", again.Status, again.Body)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(env.Receiver.Matching("order.paid", no("B"))); n != 1 {
		t.Errorf("%d order.paid events for B, want 1", n)
	}
	return runID
}

func decEq(a, b any) bool {
	as, _ := a.(string)
	bs, _ := b.(string)
	x, err1 := decimal.NewFromString(as)
	y, err2 := decimal.NewFromString(bs)
	return err1 == nil && err2 == nil && x.Equal(y)
}

func waitRefund(t *testing.T, env *gatewaytest.Env, no, rno string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := env.Do("GET", "/v1/orders/"+no+"/refunds/"+rno+"?refresh=true", demoKey, nil)
		if r.Str("status") == "SUCCEEDED" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("refund %s: %s", rno, r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const reconV2Config = `
server: {public_url: "${PUBLIC_URL}"}
database: {driver: "${DB_DRIVER}", dsn: "${DB}"}
sandbox: true
poller: {disabled: true}
webhooks: {interval: 50ms}
reconciliation: {interval: 50ms, retry_every: 1s}
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

func v2Recon(id string) reconChannel {
	return reconChannel{id: id, currency: "CNY", loc: shanghai, paysNotify: true, summary: true, payerAppID: "wxd930ea5d5a258f4f",
		order: func(no, amount string) map[string]any { return v2Order(id, no, amount) }}
}

func TestReconcileWeChatV2(t *testing.T) {
	env := gatewaytest.Start(t, reconV2Config, gatewaytest.Options{})
	for _, ch := range []string{"wxv2", "wxv2-sp"} {
		t.Run(ch, func(t *testing.T) {
			prefix := "RC" + strings.ToUpper(strings.ReplaceAll(ch, "-", ""))
			reconScenario(t, env, v2Recon(ch), prefix)
		})
	}
	list := env.Do("GET", "/v1/reconciliations?channel=wxv2", demoKey, nil)
	if data, _ := list.JSON["data"].([]any); list.Status != 200 || len(data) != 1 {
		t.Fatalf("list: %d %s", list.Status, list.Body)
	}
	// Metrics count the judged items by kind: per channel one status
	// mismatch (healed) in the first judgement, none in the second.
	rec := httptest.NewRecorder()
	env.App.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`paygate_reconciliation_differences_total{kind="status_mismatch",provider="wechat_v2"} 2`,
		`paygate_reconciliation_differences_total{kind="healed",provider="wechat_v2"} 2`,
		`paygate_reconciliation_differences_total{kind="amount_mismatch",provider="wechat_v2"} 4`,
		`paygate_reconciliation_differences_total{kind="matched",provider="wechat_v2"} 14`,
		`paygate_reconciliation_runs_total{provider="wechat_v2",status="DONE"} 4`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A statement still being generated is WAITING and asked for again (every
// retry_every; 30 minutes by default) until it is there.
func TestReconcileWaitsForTheStatement(t *testing.T) {
	env := gatewaytest.Start(t, reconV2Config, gatewaytest.Options{})
	day := waitPastMidnight(t, shanghai)
	if r := env.Do("POST", "/v1/orders", demoKey, v2Order("wxv2", "RCWAIT0001", "3.00")); r.Status != 201 {
		t.Fatal(r.Status)
	}
	env.Pay("wxv2", "RCWAIT0001", nil)
	env.WaitStatus(demoKey, "RCWAIT0001", "PAID", 3*time.Second)
	if err := env.App.Sandbox.SetStatementReady("wxv2", false); err != nil {
		t.Fatal(err)
	}
	run := env.Do("POST", "/v1/reconciliations", demoKey, map[string]any{"channel": "wxv2", "date": day.String()})
	if run.Status != 201 || run.Str("status") != "WAITING" || run.JSON["next_attempt_at"] == nil || !strings.Contains(run.Str("error"), "Bill Creating") {
		t.Fatalf("run: %d %s", run.Status, run.Body)
	}
	id := run.Str("id")
	time.Sleep(1500 * time.Millisecond) // one retry while still held
	if r := env.Do("GET", "/v1/reconciliations/"+id, demoKey, nil); r.Str("status") != "WAITING" || r.JSON["attempts"].(float64) < 2 {
		t.Fatalf("still held: %s", r.Body)
	}
	_ = env.App.Sandbox.SetStatementReady("wxv2", true)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := env.Do("GET", "/v1/reconciliations/"+id, demoKey, nil)
		if r.Str("status") == "DONE" {
			if c := r.JSON["counts"].(map[string]any); c["matched"] != 1.0 {
				t.Fatalf("counts %v", c)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done: %s", r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitRunEvent(t, env, id, 1)
}

// Bad requests name the field and change nothing.
func TestReconcileRefusesBadInput(t *testing.T) {
	env := gatewaytest.Start(t, reconV2Config, gatewaytest.Options{})
	tomorrow := providers.DayOf(time.Now().In(shanghai)).AddDays(2).String()
	cases := []struct {
		body        any
		status      int
		field, code string
	}{
		{map[string]any{"channel": "wxv2"}, 400, "date", "INVALID_ARGUMENT"},
		{map[string]any{"channel": "wxv2", "date": "2026-13-01"}, 400, "date", "INVALID_ARGUMENT"},
		{map[string]any{"channel": "nope", "date": "2026-01-01"}, 400, "channel", "INVALID_ARGUMENT"},
		{map[string]any{"channel": "wxv2", "date": tomorrow}, 400, "date", "INVALID_ARGUMENT"},
		{map[string]any{"channel": "wxv2", "date": "2026-01-01", "extra": 1}, 400, "extra", "INVALID_ARGUMENT"},
	}
	for _, c := range cases {
		r := env.Do("POST", "/v1/reconciliations", demoKey, c.body)
		if r.Status != c.status || r.ErrField() != c.field || r.ErrCode() != c.code {
			t.Errorf("%v: %d %s", c.body, r.Status, r.Body)
		}
	}
	if r := env.Do("GET", "/v1/reconciliations", demoKey, nil); len(r.JSON["data"].([]any)) != 0 {
		t.Errorf("runs were made: %s", r.Body)
	}
	if r := env.Do("GET", "/v1/reconciliations/rec_00000000000000000000000000", demoKey, nil); r.Status != 404 {
		t.Errorf("unknown run: %d", r.Status)
	}
	if r := env.Do("GET", "/v1/reconciliations?bogus=1", demoKey, nil); r.Status != 400 || r.ErrField() != "bogus" {
		t.Errorf("unknown parameter: %d %s", r.Status, r.Body)
	}
	req, _ := http.NewRequest("POST", env.URL+"/v1/reconciliations?channel=wxv2&date=2026-01-01", strings.NewReader("not,a,bill\n"))
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Authorization", "Bearer "+demoKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("garbage upload: %d", resp.StatusCode)
	}
}

// waitRunEvent waits for n reconciliation.completed webhooks of a run.
func waitRunEvent(t *testing.T, env *gatewaytest.Env, runID string, n int) []gatewaytest.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var got []gatewaytest.Event
		for _, e := range env.Receiver.Events() {
			if e.Type == "reconciliation.completed" && e.Data["id"] == runID {
				got = append(got, e)
			}
		}
		if len(got) >= n {
			for _, e := range got {
				if !e.SignatureOK {
					t.Fatalf("reconciliation.completed signature")
				}
			}
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d reconciliation.completed for %s, want %d", len(got), runID, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reconV3Config: WeChat Pay v3 (direct and partner) and cloud pay on the
// sandbox, with the poller off: only reconciliation finds a lost payment.
const reconV3Config = `
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
      - id: wxv3
        provider: wechat_v3
        base_url: sandbox
        params:
          appid: "` + v3AppID + `"
          mchid: "` + v3MchID + `"
          api_v3_key: "` + v3APIv3Key + `"` + v3Merchant + v3BothKeys + v3SandboxKeys + `
          sandbox_sign_with: public_key
          sandbox_refund_delay_ms: 20
      - id: wxv3-partner
        provider: wechat_v3
        base_url: sandbox
        params:
          appid: "` + v3SpAppID + `"
          mchid: "1900000100"
          sub_mchid: "1900000111"
          sub_appid: "` + v3SubAppID + `"
          api_v3_key: "` + v3SPAPIv3Key + `"` + v3Merchant + v3BothKeys + v3SandboxKeys + `
          sandbox_sign_with: public_key
          sandbox_refund_delay_ms: 20
      - id: cloudpay
        provider: wechat_cloudpay
        base_url: sandbox
        params: {sub_mch_id: "1712734762", sub_appid: "wxd2565e6a04246fd1", env_id: "prod-66733tes755tabc", sandbox_refund_delay_ms: "20"}
`

// ... and cloud pay, whose bill comes inside its JSON envelope.
func TestReconcileWeChatV3(t *testing.T) {
	env := gatewaytest.Start(t, reconV3Config, gatewaytest.Options{})
	for _, c := range []struct{ id, appid string }{{"wxv3", v3AppID}, {"wxv3-partner", v3SubAppID}, {"cloudpay", "wxd2565e6a04246fd1"}} {
		t.Run(c.id, func(t *testing.T) {
			ch := reconChannel{id: c.id, currency: "CNY", loc: shanghai, paysNotify: true, summary: true, payerAppID: c.appid,
				order: func(no, amount string) map[string]any { return v3Order(c.id, no, amount, c.appid) }}
			reconScenario(t, env, ch, "RC"+strings.ToUpper(strings.ReplaceAll(c.id, "-", "")))
		})
	}
}

// recon2PayNowConfig: 2paynow has no statement API; finance uploads the
// CSV its portal exports, read by the columns mapped here.
const recon2PayNowConfig = `
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
      - id: twopaynow-eu
        provider: 2paynow
        base_url: sandbox
        params: {mid: "40025", key: "2pn-demo-key-0001"}
        statement:
          timezone: Europe/Amsterdam
          columns: {out_trade_no: "Order No", provider_trade_no: "Trade No", type: "Type", amount: "Amount", currency: "Currency",
                    status: "Status", time: "Time", out_refund_no: "Refund No", fee: "Fee"}
          refund_types: [Refund]
          time_format: "02/01/2006 15:04:05"
`

// The scenario through an uploaded statement: the file is what the
// acquirer's portal would export for the day (A, B, C and its refund, D
// at 9.99, X unknown to the gateway; E missing).
func TestReconcileUploadedStatement(t *testing.T) {
	env := gatewaytest.Start(t, recon2PayNowConfig, gatewaytest.Options{})
	ams, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	day := waitPastMidnight(t, ams)
	order := func(no string) map[string]any {
		return map[string]any{"channel": "twopaynow-eu", "out_trade_no": no, "amount": "10.00", "currency": "EUR",
			"description": "Souvenir", "payer": map[string]any{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}, "return_url": "https://shop.example/done"}
	}
	ptn := map[string]string{}
	for _, s := range []string{"A", "B", "C", "D", "E"} {
		no := "UPL" + s + "0001"
		if r := env.Do("POST", "/v1/orders", demoKey, order(no)); r.Status != 201 {
			t.Fatalf("create %s: %d %s", no, r.Status, r.Body)
		}
		if s == "B" {
			env.Pay("twopaynow-eu", no, map[string]any{"notify": false})
		} else {
			env.Pay("twopaynow-eu", no, nil)
			ptn[s] = env.WaitStatus(demoKey, no, "PAID", 5*time.Second).Str("provider_trade_no")
		}
	}
	if r := env.Do("POST", "/v1/orders/UPLC0001/refunds", demoKey, map[string]any{"out_refund_no": "UPLC0001R1", "amount": "2.50"}); r.Status != 201 {
		t.Fatalf("refund: %d %s", r.Status, r.Body)
	}
	waitRefund(t, env, "UPLC0001", "UPLC0001R1")
	at := time.Now().In(ams).Format("02/01/2006 15:04:05")
	file := "Order No,Trade No,Type,Amount,Currency,Status,Time,Refund No,Fee\r\n" +
		"UPLA0001," + ptn["A"] + ",Payment,10.00,EUR,Settled," + at + ",,0.12\r\n" +
		"UPLB0001,,Payment,10.00,EUR,Settled," + at + ",,0.12\r\n" +
		"UPLC0001," + ptn["C"] + ",Payment,10.00,EUR,Settled," + at + ",,0.12\r\n" +
		"UPLC0001," + ptn["C"] + ",Refund,-2.50,EUR,Settled," + at + ",UPLC0001R1,-0.03\r\n" +
		"UPLD0001," + ptn["D"] + ",Payment,9.99,EUR,Settled," + at + ",,0.12\r\n" +
		"UPLX0001,TPX0000000099,Payment,7.00,EUR,Settled," + at + ",,0.08\r\n"
	req, _ := http.NewRequest("POST", env.URL+"/v1/reconciliations?channel=twopaynow-eu&date="+day.String(), strings.NewReader(file))
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Authorization", "Bearer "+demoKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var run gatewaytest.Response
	run.Status = resp.StatusCode
	run.Body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	_ = json.Unmarshal(run.Body, &run.JSON)
	if run.Status != 201 || run.Str("status") != "DONE" || run.Str("source") != "upload" {
		t.Fatalf("upload: %d %s", run.Status, run.Body)
	}
	counts := run.JSON["counts"].(map[string]any)
	want := map[string]float64{"matched": 3, "missing_at_gateway": 1, "missing_at_provider": 1, "amount_mismatch": 1, "status_mismatch": 1, "healed": 1}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("counts.%s = %v, want %v (%s)", k, counts[k], v, run.Body)
		}
	}
	st := run.JSON["statement"].(map[string]any)
	if st["rows"] != 6.0 || st["payments"].(map[string]any)["amount"] != "46.99" || st["refunds"].(map[string]any)["amount"] != "2.50" ||
		st["fees"] != "0.53" || st["currency"] != "EUR" || st["summary"] != nil {
		t.Errorf("statement %v", st)
	}
	env.WaitStatus(demoKey, "UPLB0001", "PAID", time.Second)
	env.Receiver.Wait("order.paid", "UPLB0001", 1, 5*time.Second)
	waitRunEvent(t, env, run.Str("id"), 1)
	// A channel with neither a statement API nor a column mapping, or a
	// download asked of 2paynow, is refused naming the channel.
	if r := env.Do("POST", "/v1/reconciliations", demoKey, map[string]any{"channel": "twopaynow-eu", "date": day.String()}); r.Status != 422 || r.ErrField() != "channel" {
		t.Errorf("download from 2paynow: %d %s", r.Status, r.Body)
	}
}

const reconVRConfig = `
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
      - id: vr-eu
        provider: vr_payment
        base_url: sandbox
        params: {user_id: "512", secret: "iUR85iWXBRDGmHOUpxBZbogfVByGVKVCzkuj3tAb4Q8=", space_id: "405"}
`

// VR Payment sends no callbacks and has no statement file: the adapter
// reads the day from its transaction and refund searches. The gateway
// learns of A, C, D and E by asking (?refresh=true, the poller being off
// here); B is paid and never asked about, the lost notification's twin.
func TestReconcileVRPayment(t *testing.T) {
	env := gatewaytest.Start(t, reconVRConfig, gatewaytest.Options{})
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	ch := reconChannel{id: "vr-eu", currency: "EUR", loc: berlin, paysNotify: false, summary: false,
		order: func(no, amount string) map[string]any {
			return map[string]any{"channel": "vr-eu", "out_trade_no": no, "amount": amount, "currency": "EUR", "description": "Souvenir",
				"payer": map[string]any{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}, "return_url": "https://shop.example/done"}
		}}
	reconScenario(t, env, ch, "RCVRPAY")
}

const reconYabandConfig = `
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
      - id: yaband-eu
        provider: yaband
        currency: EUR
        base_url: sandbox
        params: {user: "016683", secret_key: "yb-demo-secret-0001", sub_app_id: "wxd930ea5d5a258f4f"}
`

// Yaband: v3.GetTradebill (getTradebillinfo for the statement day in
// Netherlands time), through its simulator.
func TestReconcileYaband(t *testing.T) {
	env := gatewaytest.Start(t, reconYabandConfig, gatewaytest.Options{})
	ams, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	ch := reconChannel{id: "yaband-eu", currency: "EUR", loc: ams, paysNotify: true, payerAppID: "wxd930ea5d5a258f4f",
		order: func(no, amount string) map[string]any {
			return map[string]any{"channel": "yaband-eu", "out_trade_no": no, "amount": amount, "currency": "EUR", "description": "Souvenir",
				"payer": map[string]any{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}
		}}
	reconScenario(t, env, ch, "RCYABAND")
}

// A WeChat bill downloaded from the merchant platform (here gzipped) is
// uploaded as is: the channel's own format reads it.
func TestReconcileUploadedWeChatBill(t *testing.T) {
	env := gatewaytest.Start(t, reconV2Config, gatewaytest.Options{})
	day := waitPastMidnight(t, shanghai)
	if r := env.Do("POST", "/v1/orders", demoKey, v2Order("wxv2", "UPWX000001", "5.00")); r.Status != 201 {
		t.Fatal(r.Status)
	}
	env.Pay("wxv2", "UPWX000001", nil)
	paid := env.WaitStatus(demoKey, "UPWX000001", "PAID", 3*time.Second)
	at, _ := time.Parse(time.RFC3339, paid.Str("paid_at"))
	bill := sandboxbill.Gzip(sandboxbill.Write([]sandboxbill.Line{{Time: at, AppID: "wxd930ea5d5a258f4f", MchID: "10000100",
		TransactionID: paid.Str("transaction_id"), OutTradeNo: "UPWX000001", OpenID: "o", Body: "Coffee", AmountFen: 500}}))
	req, _ := http.NewRequest("POST", env.URL+"/v1/reconciliations?channel=wxv2&date="+day.String(), bytes.NewReader(bill))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", "Bearer "+demoKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var run map[string]any
	_ = json.Unmarshal(body, &run)
	counts, _ := run["counts"].(map[string]any)
	if resp.StatusCode != 201 || run["status"] != "DONE" || run["source"] != "upload" || counts["matched"] != 1.0 ||
		run["statement"].(map[string]any)["summary"] == nil {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
}
