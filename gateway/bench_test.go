package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/sandbox/wechatv2sim"
	"github.com/paygate/paygate/store"
)

// benchConfig is v2Config with the poller and the webhook dispatcher off,
// so only the measured path touches the database.
var benchConfig = strings.Replace(v2Config, "poller: {disabled: true}\nwebhooks: {interval: 50ms}", "poller: {disabled: true}\nwebhooks: {disabled: true}", 1)

// BenchmarkNotify measures notification ingestion through the real HTTP
// handler on SQLite (XML parse + MD5 verify + inbox row + compare-and-set
// transition + outbox row, one transaction) beside a bare net/http
// handler that reads the body and inserts one row into the same kind of
// SQLite database. Both are served by httptest over loopback and driven by
// the same client, so the ratio of their ns/op is the gateway's cost over
// the least a webhook receiver must do. scripts/bench prints the ratio.
func BenchmarkNotify(b *testing.B) {
	for _, mode := range []string{"serial", "parallel"} {
		b.Run("gateway/"+mode, func(b *testing.B) { benchGatewayNotify(b, mode == "parallel") })
		b.Run("bare-insert/"+mode, func(b *testing.B) { benchBareInsert(b, mode == "parallel") })
	}
}

func benchGatewayNotify(b *testing.B, parallel bool) {
	env := gatewaytest.Start(b, benchConfig, gatewaytest.Options{})
	ctx := context.Background()
	bodies := make([][]byte, b.N)
	now := time.Now().UTC()
	for i := 0; i < b.N; i++ {
		no := fmt.Sprintf("BN%014d", i)
		o := &store.Order{ID: store.NewID("ord"), MerchantID: "demo", ChannelID: "wxv2", Provider: "wechat_v2", OutTradeNo: no,
			AmountMinor: 100, Currency: "CNY", Status: string(providers.OrderPaying), Description: "bench", PayMethod: "wechat",
			RequestHash: "x", ExpiresAt: now.Add(time.Hour), Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := env.App.Store.InsertOrder(ctx, o); err != nil {
			b.Fatal(err)
		}
		bodies[i] = []byte(v2NotificationBench(no, fmt.Sprintf("42000000012026112%011d", i)))
	}
	url := env.URL + "/notify/wxv2"
	post(b, url, bodies, parallel, func(status int, body []byte) bool {
		return status == 200 && strings.Contains(string(body), "SUCCESS")
	})
	b.StopTimer()
	var paid int64
	env.App.Store.DB().Model(&store.Order{}).Where("status = 'PAID'").Count(&paid)
	if paid != int64(b.N) {
		b.Fatalf("%d orders paid, want %d", paid, b.N)
	}
}

func v2NotificationBench(no, txn string) string {
	doc := map[string]string{
		"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": "wxd930ea5d5a258f4f", "mch_id": "10000100",
		"nonce_str": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "trade_type": "JSAPI",
		"bank_type": "OTHERS", "fee_type": "CNY", "time_end": "20261128120000", "out_trade_no": no,
		"total_fee": "100", "cash_fee": "100", "transaction_id": txn,
	}
	sig, _ := wechatv2sim.Signature(doc, v2Key, "MD5")
	doc["sign"] = sig
	return toXML(doc)
}

func benchBareInsert(b *testing.B, parallel bool) {
	st, err := store.Open("sqlite", filepath.Join(b.TempDir(), "bare.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := st.InsertNotification(r.Context(), &store.Notification{ChannelID: "bare", Body: body, Outcome: "received", ReceivedAt: time.Now()})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		_, _ = w.Write([]byte("SUCCESS"))
	}))
	defer srv.Close()
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = []byte(v2NotificationBench(fmt.Sprintf("BN%014d", i), "4200000001"))
	}
	post(b, srv.URL, bodies, parallel, func(status int, body []byte) bool { return status == 200 })
}

// post sends bodies[i] once each, serially or from GOMAXPROCS goroutines.
func post(b *testing.B, url string, bodies [][]byte, parallel bool, ok func(int, []byte) bool) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	send := func(body []byte) {
		resp, err := client.Post(url, "text/xml", strings.NewReader(string(body)))
		if err != nil {
			b.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !ok(resp.StatusCode, got) {
			b.Fatalf("answer %d %s", resp.StatusCode, got)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for i := 0; i < b.N; i++ {
			send(bodies[i])
		}
		return
	}
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			send(bodies[next.Add(1)-1])
		}
	})
}

// BenchmarkCreateOrder measures POST /v1/orders against the in-process
// wechat_v2 sandbox (validation, order row, signed unifiedorder over HTTP,
// pay params row update) beside the adapter calling the same sandbox
// directly, so the ratio is what the gateway adds to the provider call.
func BenchmarkCreateOrder(b *testing.B) {
	b.Run("gateway", func(b *testing.B) {
		env := gatewaytest.Start(b, benchConfig, gatewaytest.Options{})
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r := env.Do("POST", "/v1/orders", demoKey, v2Order("wxv2", "BC"+strconv.Itoa(100000000+i), "1.00"))
			if r.Status != 201 {
				b.Fatalf("create: %d %s", r.Status, r.Body)
			}
		}
	})
	b.Run("adapter-direct", func(b *testing.B) {
		env := gatewaytest.Start(b, benchConfig, gatewaytest.Options{})
		ch, _ := env.App.Orders.Channel("wxv2")
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			_, err := ch.Provider.CreateOrder(ctx, providers.CreateOrderRequest{
				OutTradeNo: "BD" + strconv.Itoa(100000000+i), Amount: providers.Money{Minor: 100, Currency: "CNY"},
				Description: "Coffee", PayMethod: "wechat", PayerOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
				ClientIP: "127.0.0.1", ExpiresAt: time.Now().Add(time.Hour), NotifyURL: ch.NotifyURL,
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
