package supay

import (
	"net/url"
	"testing"

	"github.com/paygate/paygate/providers/providertest"
)

// FuzzParseNotify feeds the Supay parser any body, and the same fields
// re-signed with the channel's key (mutations then reach the parsing
// behind the signature). Seeds: the signature vector's trade_status_sync
// and a refund_status_sync.
func FuzzParseNotify(f *testing.F) {
	p := testProvider(f, "")
	f.Add([]byte(form(map[string]string{"notify_type": "trade_status_sync", "mch_id": "100000123", "inner_trade_no": "202411271530001234567890",
		"outer_trade_no": "ORDER20241127002", "trade_status": "TRADE_SUCCESS", "trade_amount": "12.30"}, vectorKey)))
	f.Add([]byte(form(map[string]string{"notify_type": "refund_status_sync", "mch_id": "100000123", "inner_trade_no": "R1",
		"outer_trade_no": "RF1", "orig_outer_trade_no": "ORDER20241127002", "refund_status": "REFUND_SUCCESS", "refund_amount": "2.30"}, vectorKey)))
	f.Add([]byte(`{"notify_type":"trade_status_sync","outer_trade_no":"O1","trade_status":"TRADE_SUCCESS","trade_amount":1.5,"sign":"X"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := parse(p, string(body))
		providertest.CheckParsed(t, n, err)
		fields, err := decodeNotifyBody(body)
		if err != nil {
			return
		}
		delete(fields, "sign")
		delete(fields, "sign_type")
		v := url.Values{}
		for k, val := range fields {
			v.Set(k, val)
		}
		v.Set("sign", Sign(fields, vectorKey))
		n, err = parse(p, v.Encode())
		providertest.CheckParsed(t, n, err)
	})
}
