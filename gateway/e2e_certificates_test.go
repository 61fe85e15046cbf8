package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox"
	"github.com/paygate/paygate/providers/sandbox/wechatv3sim"
	"github.com/paygate/paygate/providers/wechatv3"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// certReplicaConfig is one replica of a gateway whose wechat_v3 channel
// is in certificate mode: it knows the shipped platform certificate from
// its file and downloads the rest from WeChat (a standalone simulator at
// ${SIM_URL}, shared by the replicas as WeChat is). The scheduled refresh
// is an hour away, so what the test shows comes from unknown serials and
// from re-reading the shared set (every 300 ms).
func certReplicaConfig(mchid string) string {
	return `
server: {public_url: "${PUBLIC_URL}"}
database: {driver: "${DB_DRIVER}", dsn: "${DB}"}
poller: {interval: 50ms}
webhooks: {interval: 50ms}
merchants:
  - id: demo
    api_keys: [{key: "` + demoKey + `", scopes: [orders:write, orders:read, refunds:write]}]
    webhook_url: "${WEBHOOK_URL}"
    webhook_secret: "${WEBHOOK_SECRET}"
    channels:
      - id: wxv3-cert
        provider: wechat_v3
        currency: CNY
        base_url: "${SIM_URL}/sandbox/wechat_v3"
        params:
          appid: "` + v3AppID + `"
          mchid: "` + mchid + `"
          api_v3_key: "` + v3APIv3Key + `"` + v3Merchant + v3PlatformCert + `
          platform_cert_refresh_interval: 1h
          platform_cert_reload_interval: 300ms
`
}

// certSim is WeChat for a certificate-mode merchant: the simulator on its
// own server, signing with the shipped platform certificate.
func certSim(t *testing.T, mchid string, extra providers.Params) (*sandbox.Sandbox, *wechatv3sim.Simulator, string) {
	t.Helper()
	sb := sandbox.New(sandbox.Env{})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	params := providers.Params{
		"appid": v3AppID, "mchid": mchid, "api_v3_key": v3APIv3Key,
		"private_key_file": v3Dir + "apiclient_key.pem", "cert_serial_no": "5D1A2B3C4D5E6F708192A3B4C5D6E7F801234567",
		"platform_cert_files":                []string{v3Dir + "platform_cert.pem"},
		wechatv3sim.ParamPlatformPrivateFile: v3Dir + "sandbox_platform_private_key.pem",
		wechatv3sim.ParamSignWith:            string(wechatv3sim.KeyPlatformCert),
		wechatv3sim.ParamRefundDelayMS:       "300",
	}
	for k, v := range extra {
		if v == nil {
			delete(params, k)
		} else {
			params[k] = v
		}
	}
	if err := sb.AddChannel(providers.Channel{ID: "wxv3-cert", Kind: wechatv3sim.Kind, Currency: "CNY", Params: params}); err != nil {
		t.Fatal(err)
	}
	s, _ := sb.Simulator(wechatv3sim.Kind)
	return sb, s.(*wechatv3sim.Simulator), srv.URL
}

func verificationOf(t *testing.T, env *gatewaytest.Env, channel string) providers.VerificationStatus {
	t.Helper()
	ch, ok := env.App.Orders.Channel(channel)
	if !ok {
		t.Fatalf("no channel %s", channel)
	}
	return ch.Provider.(providers.VerificationReporter).VerificationStatus()
}

func holds(st providers.VerificationStatus, serial string) bool {
	for _, c := range st.Certificates {
		if c.Serial == serial {
			return true
		}
	}
	return false
}

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// WeChat rotates a certificate-mode merchant's platform certificate while
// orders are in flight on two replicas of one gateway (one database): a
// new certificate is listed, then signing moves to it. Every notification
// before, during and after (payments whose callbacks leave after the
// switch, a refund completing across it) is verified and applied, without
// a restart; the replica that meets the new serial first downloads the
// list once, the other gets it from the database; both end up verifying
// the new serial.
func TestWeChatV3CertificateRotationAcrossReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		mchid := "1900000409"
		sb, sim, simURL := certSim(t, mchid, nil)
		recv := gatewaytest.NewReceiver(t, gatewaytest.WebhookSecret)
		vars := map[string]string{"DB_DRIVER": driver, "DB": storetest.FreshDSN(t, driver), "SIM_URL": simURL}
		cfg := certReplicaConfig(mchid)
		g := []*gatewaytest.Env{
			gatewaytest.Start(t, cfg, gatewaytest.Options{Vars: vars, Receiver: recv}),
			gatewaytest.Start(t, cfg, gatewaytest.Options{Vars: vars, Receiver: recv}),
		}
		st := g[0].App.Store
		// At start one replica downloads the list (verified by the
		// configured certificate), the other finds it stored.
		eventually(t, 5*time.Second, func() bool {
			for _, e := range g {
				if n := verificationOf(t, e, "wxv3-cert").Refreshes; n[wechatv3.RefreshFresh]+n[wechatv3.RefreshOK]+n[wechatv3.RefreshBusy] == 0 {
					return false
				}
			}
			return true
		}, func() string { return "the replicas' first refresh did not run" })
		if n := sim.CertificateDownloads("wxv3-cert"); n != 1 {
			t.Fatalf("%d downloads at start for two replicas, want 1", n)
		}

		create := func(e *gatewaytest.Env, no string) {
			t.Helper()
			if r := e.Do("POST", "/v1/orders", demoKey, v3Order("wxv3-cert", no, "3.00", "")); r.Status != 201 {
				t.Fatalf("create %s: %d %s", no, r.Status, r.Body)
			}
		}
		pay := func(no string, delayMS int) {
			t.Helper()
			res, err := sb.Pay(context.Background(), "wxv3-cert", no, sandbox.PayOptions{DelayMS: delayMS})
			if err != nil {
				t.Fatalf("pay %s: %v", no, err)
			}
			if delayMS == 0 {
				d := res.(map[string]any)["notifications"].([]sandbox.DeliveryResult)
				if len(d) != 1 || d[0].Status != http.StatusNoContent {
					t.Fatalf("pay %s: the gateway answered %+v", no, d)
				}
			}
		}
		control := func(action string) string {
			t.Helper()
			v, err := sb.ControlCertificates("wxv3-cert", sandbox.CertificateControl{Action: action})
			if err != nil {
				t.Fatal(err)
			}
			s, _ := v.(map[string]any)["signing_serial"].(string)
			if a, ok := v.(map[string]any)["added"].(string); ok {
				return a
			}
			return s
		}

		// Orders by replica: the provider sends each callback to the
		// replica whose notify URL the order carries.
		on := map[string]*gatewaytest.Env{}
		nos := []string{"CERTROT00001", "CERTROT00002", "CERTROT00003", "CERTROT00004", "CERTROT00005", "CERTROT00006", "CERTROT00007", "CERTROT00008"}
		for i, no := range nos[:6] {
			on[no] = g[i%2]
			create(on[no], no)
		}
		// Before: paid and notified under the old certificate.
		pay(nos[0], 0)
		pay(nos[1], 0)
		g[1].WaitStatus(demoKey, nos[1], "PAID", 3*time.Second)
		// In flight across the rotation: a refund WeChat completes 300 ms
		// later (to replica 1), and a payment whose callback leaves 600 ms
		// later (to replica 0); both are signed when they leave.
		if r := g[1].Do("POST", "/v1/orders/"+nos[1]+"/refunds", demoKey, map[string]any{"out_refund_no": nos[1] + "R", "amount": "1.00"}); r.Status != 201 || r.Str("status") != "PROCESSING" {
			t.Fatalf("refund: %d %s", r.Status, r.Body)
		}
		pay(nos[2], 600)

		// The rotation, step 1: the new certificate is listed.
		newSerial := control(wechatv3sim.ActionAdd)
		pay(nos[3], 0) // still the old one
		// Step 2: signing moves to it.
		if s := control(wechatv3sim.ActionSignWith); s != newSerial {
			t.Fatalf("signing %s, want %s", s, newSerial)
		}
		// Replica 0 meets the new serial first (a callback right now).
		pay(nos[4], 0)
		if n := sim.CertificateDownloads("wxv3-cert"); n != 2 {
			t.Fatalf("%d downloads after the first new-serial callback, want 2", n)
		}
		// Replica 1 holds it without a restart and without downloading:
		// it re-reads the set replica 0 stored.
		eventually(t, 3*time.Second, func() bool { return holds(verificationOf(t, g[1], "wxv3-cert"), newSerial) },
			func() string { return "replica 1 never held the new certificate" })
		pay(nos[5], 0)
		// After: orders created after the switch, on both replicas.
		for i, no := range nos[6:] {
			on[no] = g[i%2]
			create(on[no], no)
			pay(no, 0)
		}

		for _, no := range nos {
			on[no].WaitStatus(demoKey, no, "PAID", 5*time.Second)
			recv.Wait("order.paid", no, 1, 5*time.Second)
		}
		recv.Wait("refund.succeeded", nos[1], 1, 5*time.Second)
		if n := sim.CertificateDownloads("wxv3-cert"); n != 2 {
			t.Fatalf("%d downloads in all, want 2 (one at start, one for the new serial)", n)
		}

		rows := v3Inbox(t, st, "wxv3-cert")
		for _, r := range rows {
			if r.Outcome != store.OutcomeApplied || !r.Verified {
				t.Fatalf("notification %s (%s, serial %s): %s %s, want verified and applied", r.ID, r.Kind, serialOf(t, r), r.Outcome, r.Detail)
			}
		}
		// The callbacks in flight across the rotation (nos[2] and the
		// refund) are signed when they leave: under a slow scheduler that
		// may be before or after the switch, and either must verify.
		inFlight := map[string]bool{v3CertSerial: true, newSerial: true}
		for i, no := range nos {
			want := map[string]bool{newSerial: true}
			switch {
			case i < 2 || i == 3:
				want = map[string]bool{v3CertSerial: true}
			case i == 2:
				want = inFlight
			}
			recs := inboxOf(rows, orderIDOf(t, st, no))
			if len(recs) == 0 || recs[0].Kind != "payment" || !want[serialOf(t, recs[0])] {
				t.Fatalf("%s: inbox %+v, want a payment notification signed by one of %v", no, recs, want)
			}
			if n := eventCount(t, st, "order.paid", orderIDOf(t, st, no)); n != 1 {
				t.Fatalf("%s: %d order.paid events", no, n)
			}
		}
		if recs := inboxOf(rows, orderIDOf(t, st, nos[1])); len(recs) != 2 || recs[1].Kind != "refund" || !inFlight[serialOf(t, recs[1])] {
			t.Fatalf("refund notification: %+v", recs)
		}
		// Both replicas took callbacks under the new serial, and both hold
		// both certificates, the newest first.
		for i, e := range g {
			var mine int
			for no, owner := range on {
				if owner == e {
					for _, r := range inboxOf(rows, orderIDOf(t, st, no)) {
						if serialOf(t, r) == newSerial {
							mine++
						}
					}
				}
			}
			v := verificationOf(t, e, "wxv3-cert")
			if mine == 0 || len(v.Certificates) != 2 || v.Certificates[0].Serial != newSerial || v.Problem != "" {
				t.Fatalf("replica %d: %d new-serial callbacks, status %+v", i, mine, v)
			}
			if code, body := http.StatusOK, e.Metrics(); code != 200 ||
				!strings.Contains(body, `paygate_provider_certificates{channel="wxv3-cert"} 2`) ||
				!strings.Contains(body, `paygate_provider_certificate_expiry_seconds{channel="wxv3-cert",serial="`+newSerial+`"}`) ||
				!strings.Contains(body, `paygate_channel_can_verify{channel="wxv3-cert"} 1`) {
				t.Fatalf("replica %d metrics:\n%s", i, grepLines(body, "certificate|can_verify"))
			}
			if code, body := getBody(t, e.URL+"/readyz"); code != 200 || body != `{"status":"ready"}` {
				t.Fatalf("replica %d readyz: %d %s", i, code, body)
			}
		}
		for _, no := range nos {
			if n := len(recv.Matching("order.paid", no)); n != 1 {
				t.Fatalf("%s: %d order.paid deliveries", no, n)
			}
		}

		// Forged serials through the ingress, many at once on both
		// replicas: all refused and recorded, and no download storm.
		forger, err := wechatv3sim.ReadPrivateKey(v3Dir + "apiclient_key.pem") // not WeChat's key
		if err != nil {
			t.Fatal(err)
		}
		before := len(rows)
		var reqs []*http.Request
		for i := 0; i < 40; i++ {
			body := v3Notification(t, fmt.Sprintf("evt-forged-%d", i), "TRANSACTION.SUCCESS", "transaction", v3APIv3Key,
				map[string]any{"appid": v3AppID, "mchid": mchid, "out_trade_no": nos[0], "transaction_id": "4200000000000000000000000042",
					"trade_state": "SUCCESS", "amount": map[string]any{"total": 300, "currency": "CNY"}}, false)
			req, err := http.NewRequest(http.MethodPost, g[i%2].URL+"/notify/wxv3-cert", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header = v3SignHeaders(t, forger, fmt.Sprintf("%040X", 0xF0F0+i), time.Now().Unix(), body)
			reqs = append(reqs, req)
		}
		done := make(chan int, len(reqs))
		for _, req := range reqs {
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					done <- -1
					return
				}
				resp.Body.Close()
				done <- resp.StatusCode
			}()
		}
		for range reqs {
			if status := <-done; status < 400 {
				t.Fatalf("forged notification answered %d", status)
			}
		}
		rows = v3Inbox(t, st, "wxv3-cert")
		if len(rows)-before != 40 {
			t.Fatalf("%d forged notifications recorded, want 40", len(rows)-before)
		}
		for _, r := range rows[before:] {
			if r.Outcome != store.OutcomeBadSignature || r.Verified {
				t.Fatalf("forged notification: %s verified=%v %s", r.Outcome, r.Verified, r.Detail)
			}
		}
		if n := sim.CertificateDownloads("wxv3-cert"); n > 3 {
			t.Fatalf("40 forged serials made %d downloads in all, want at most one more than 2", n)
		}
	})
}

func grepLines(s, words string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, w := range strings.Split(words, "|") {
			if strings.Contains(l, w) && !strings.HasPrefix(l, "#") {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// /readyz stays {"status":"ready"} for healthy channels and names, with
// HTTP 200, a channel that cannot verify its provider: here one that was
// told to trust its first download from a merchant WeChat lists no
// certificate for (public-key only: 404 RESOURCE_NOT_EXISTS).
func TestReadyzNamesAChannelThatCannotVerify(t *testing.T) {
	const mchid = "1900000509"
	_, _, simURL := certSim(t, mchid, providers.Params{
		"platform_cert_files": nil, wechatv3sim.ParamPlatformPrivateFile: nil,
		"wechatpay_public_key_id":             v3PubKeyID,
		wechatv3sim.ParamPublicKeyPrivateFile: v3Dir + "sandbox_wechatpay_private_key.pem",
		wechatv3sim.ParamSignWith:             string(wechatv3sim.KeyPublicKey),
	})
	cfg := strings.Replace(certReplicaConfig(mchid), v3PlatformCert, `
          platform_cert_trust_on_first_use: true`, 1)
	env := gatewaytest.Start(t, cfg, gatewaytest.Options{Vars: map[string]string{"SIM_URL": simURL}})
	var body, m string
	eventually(t, 5*time.Second, func() bool {
		_, body = getBody(t, env.URL+"/readyz")
		m = env.Metrics()
		return strings.Contains(body, "RESOURCE_NOT_EXISTS") && strings.Contains(m, `result="not_available"`)
	}, func() string { return "readyz: " + body + "\n" + grepLines(m, "certificate|can_verify") })
	code, body := getBody(t, env.URL+"/readyz")
	if code != 200 || !strings.Contains(body, `"status":"degraded"`) || !strings.Contains(body, `"wxv3-cert":`) {
		t.Fatalf("readyz: %d %s", code, body)
	}
	if !strings.Contains(m, `paygate_channel_can_verify{channel="wxv3-cert"} 0`) ||
		!strings.Contains(m, `paygate_provider_certificate_refreshes_total{channel="wxv3-cert",result="not_available"}`) {
		t.Fatalf("metrics:\n%s", grepLines(m, "certificate|can_verify"))
	}
}
