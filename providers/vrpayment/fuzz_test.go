package vrpayment

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/paygate/paygate/providers/providertest"
)

// FuzzParseNotify feeds the VR Payment webhook parser any body. Seeds:
// the wallee webhook shapes for a transaction and a refund.
func FuzzParseNotify(f *testing.F) {
	p := newTestProvider(f, "", "EUR")
	f.Add(`{"eventId":987654,"entityId":123456789,"listenerEntityId":1472041829003,"listenerEntityTechnicalName":"Transaction","spaceId":405,"webhookListenerId":42,"timestamp":"2026-11-28T05:55:01+0000","state":"FULFILL"}`)
	f.Add(`{"eventId":5,"entityId":777,"listenerEntityTechnicalName":"Refund","spaceId":405,"state":"SUCCESSFUL"}`)
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/notify/vr-test", strings.NewReader(body))
		n, err := p.ParseNotify(context.Background(), r, []byte(body))
		providertest.CheckParsed(t, n, err)
	})
}
