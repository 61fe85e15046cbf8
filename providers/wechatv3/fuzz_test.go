package wechatv3

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/paygate/paygate/providers/providertest"
	"github.com/paygate/paygate/providers/sandbox/wechatv3sim"
)

var fuzzEvents = []string{EventTransactionSuccess, EventRefundSuccess, EventRefundAbnormal, EventRefundClosed, "TRANSACTION.CLOSED"}

// FuzzParseNotify feeds the v3 parser any decrypted resource, sealed with
// the APIv3 key under any event type and signed by WeChat's key (so
// mutations reach what lies behind the signature and the AEAD), and any
// whole body, signed and unsigned. Seeds: the spec's transaction and
// refund resources (WPG models).
func FuzzParseNotify(f *testing.F) {
	w := loadWechatSide(f)
	p := newTestProvider(f, directParams(), "")
	for i, res := range []any{directTransaction(), refundResource(map[string]string{"mchid": tMchID}, "SUCCESS"), refundResource(map[string]string{"mchid": tMchID}, "CLOSED")} {
		pt, _ := json.Marshal(res)
		f.Add(uint8(min(i, 1)), pt)
	}
	f.Add(uint8(0), notification(f, tAPIv3Key, EventTransactionSuccess, "transaction", directTransaction()))
	f.Fuzz(func(t *testing.T, event uint8, data []byte) {
		ev := fuzzEvents[int(event)%len(fuzzEvents)]
		ct, err := wechatv3sim.SealResource([]byte(tAPIv3Key), "0123456789ab", "transaction", data)
		if err != nil {
			t.Skip()
		}
		body, _ := json.Marshal(map[string]any{
			"id": "EV-FUZZ", "create_time": "2024-01-01T12:00:00+08:00", "resource_type": "encrypt-resource", "event_type": ev,
			"resource": map[string]string{"original_type": "transaction", "algorithm": AlgorithmAEAD, "ciphertext": ct,
				"associated_data": "transaction", "nonce": "0123456789ab"},
		})
		n, err := p.ParseNotify(context.Background(), notifyRequest(w.sign(t, tPubKeyID, tNow, "n0nce", body), body), body)
		providertest.CheckParsed(t, n, err)
		// The fuzz input as the whole body, signed, then unsigned.
		n, err = p.ParseNotify(context.Background(), notifyRequest(w.sign(t, tPubKeyID, tNow, "n0nce", data), data), data)
		providertest.CheckParsed(t, n, err)
		n, err = p.ParseNotify(context.Background(), notifyRequest(nil, data), data)
		providertest.CheckParsed(t, n, err)
	})
}
