package yaband

import (
	"encoding/json"
	"testing"

	"github.com/paygate/paygate/providers/providertest"
)

// FuzzParseNotify feeds the Yaband parser any body in any of its accepted
// shapes, and the same data re-signed with the channel's secret so that
// mutations reach the parsing behind the signature. Seeds: the notify
// vector and a refund notification.
func FuzzParseNotify(f *testing.F) {
	p := testProvider(f, "", nil)
	f.Add([]byte(vectorNotifyBody))
	refund := map[string]string{"type": "refund", "user": "016683", "order_id": "ORDER1", "trade_id": "8a8aa7c7-66d7-e2cc-e2a6-fff7c77aaefd",
		"refund_id": "20241127153000123456", "m_refund_id": "RF0001", "refund_amount": "2.50", "refund_currency": "EUR", "state": "refunded"}
	b, _ := json.Marshal(map[string]any{"sign": Sign(vectorSecret, refund), "data": refund})
	f.Add(b)
	f.Add([]byte("resultData=" + string(b)))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := parse(p, string(body), "application/json")
		providertest.CheckParsed(t, n, err)
		_, data, err := decodeNotifyBody(body)
		if err != nil {
			return
		}
		fields, err := flattenData(data)
		if err != nil {
			return
		}
		signed, err := json.Marshal(map[string]any{"sign": Sign(vectorSecret, fields), "data": data})
		if err != nil {
			return
		}
		n, err = parse(p, string(signed), "application/json")
		providertest.CheckParsed(t, n, err)
	})
}
