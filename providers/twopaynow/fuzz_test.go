package twopaynow

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/providers/providertest"
)

// FuzzParseNotify feeds the 2paynow parser any query (GET) and form body
// (POST), and the same fields re-signed for a timestamp the provider
// takes as now, so mutations reach what lies behind the signature.
// Seeds: the notification published in the Omnipay driver's tests.
func FuzzParseNotify(f *testing.F) {
	f.Add(publishedNotify)
	f.Add(notifyFields(testMid, testKey, publishedAt).Encode())
	f.Add("function=query&mid=4002563369&timestamp=1571034662245&sign=x")
	f.Fuzz(func(t *testing.T, query string) {
		p := newTestProvider(t, publishedAt, "")
		req, err := http.NewRequest(http.MethodGet, "/notify/tp-test", nil)
		if err != nil {
			return
		}
		req.URL.RawQuery = query
		n, err := p.ParseNotify(context.Background(), req, nil)
		providertest.CheckParsed(t, n, err)
		post := httptest.NewRequest(http.MethodPost, "/notify/tp-test", strings.NewReader(query))
		post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		n, err = p.ParseNotify(context.Background(), post, []byte(query))
		providertest.CheckParsed(t, n, err)

		v, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		ms, err := strconv.ParseInt(v.Get("timestamp"), 10, 64)
		if err != nil {
			return
		}
		v.Set("mid", testMid)
		v.Set("sign", Sign(v.Get("function"), testMid, v.Get("timestamp"), testKey))
		signed := newTestProvider(t, time.UnixMilli(ms), "")
		req.URL.RawQuery = v.Encode()
		n, err = signed.ParseNotify(context.Background(), req, nil)
		providertest.CheckParsed(t, n, err)
	})
}
