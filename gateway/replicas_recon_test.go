package gateway_test

import (
	"testing"
	"time"

	"github.com/paygate/paygate/gateway/gatewaytest"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// reconReplicaConfig: two WeChat channels reconciling yesterday by
// themselves from midnight (Beijing time), looked at every 10 ms.
const reconReplicaConfig = `
server: {public_url: "${PUBLIC_URL}"}
database: {driver: "${DB_DRIVER}", dsn: "${DB}"}
sandbox: true
poller: {disabled: true}
webhooks: {interval: 20ms}
reconciliation: {interval: 10ms}
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
        statement: {daily_at: "00:00"}
      - id: wxv2-sp
        provider: wechat_v2
        base_url: sandbox
        params: {appid: "wx8888888888888888", mch_id: "1230000109", sub_mch_id: "1900000110", sub_appid: "wxd930ea5d5a258f4f",
                 api_key: "sp0key0000000000000000000000000a", sign_type: HMAC-SHA256}
        statement: {daily_at: "00:00", timezone: Asia/Shanghai}
`

// Two replicas on one database, both running the daily schedule many times
// a second: each channel gets exactly one scheduled run for yesterday,
// executed once (one attempt, one reconciliation.completed).
func TestReplicasReconcileOncePerChannelAndDay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		dsn := storetest.FreshDSN(t, driver)
		recv := gatewaytest.NewReceiver(t, gatewaytest.WebhookSecret)
		vars := map[string]string{"DB_DRIVER": driver, "DB": dsn}
		for i := 0; i < 2; i++ {
			gatewaytest.Start(t, reconReplicaConfig, gatewaytest.Options{Vars: vars, Receiver: recv})
		}
		check := storetest.OpenDSN(t, driver, dsn, store.Options{})
		yesterday := providers.DayOf(time.Now().In(shanghai)).AddDays(-1).String()
		deadline := time.Now().Add(10 * time.Second)
		var runs []store.ReconRun
		for {
			runs = nil
			if err := check.DB().Order("channel_id").Find(&runs).Error; err != nil {
				t.Fatal(err)
			}
			final := 0
			for _, r := range runs {
				if r.Status == store.ReconNoStatement || r.Status == store.ReconDone {
					final++
				}
			}
			if final >= 2 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // both replicas keep ticking meanwhile
		runs = nil
		if err := check.DB().Order("channel_id").Find(&runs).Error; err != nil {
			t.Fatal(err)
		}
		if len(runs) != 2 {
			t.Fatalf("%d runs, want one per channel: %+v", len(runs), runs)
		}
		for i, ch := range []string{"wxv2", "wxv2-sp"} {
			r := runs[i]
			if r.ChannelID != ch || r.Date != yesterday || r.Source != "provider" || r.ScheduleKey == nil ||
				r.Status != store.ReconNoStatement || r.Attempts != 1 || r.Judgements != 1 {
				t.Errorf("run %+v", r)
			}
		}
		var events int64
		if err := check.DB().Model(&store.MerchantEvent{}).Where("type = ?", "reconciliation.completed").Count(&events).Error; err != nil {
			t.Fatal(err)
		}
		if events != 2 {
			t.Errorf("%d reconciliation.completed events, want 2", events)
		}
	})
}
