package wechatv3

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/paygate/paygate/providers"
)

// realBill is a complete ALL bill of merchant 1601959334 for 2021-01-28 as
// /v3/billdownload/file serves it (published in a Go WeChat Pay v3
// client's test, TestDownloadForClient). Its SHA-1, recomputed here with
// `sha1sum`, is realBillSHA1 (that test's hash_value is a placeholder that
// matches no file).
const realBill = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n" +
	"`2021-01-28 17:07:11,`wx81be3101902f7cb2,`1601959334,`0,`,`4200000925202101284997714292,`S20210128170702357723,`ofyak5qR_1wYsC99CsWA6R9MJazA,`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`for testing,`cipher code,`0.00000,`1.00%,`0.01,`0.00,`\n" +
	"`2021-01-28 15:35:18,`wx81be3101902f7cb2,`1601959334,`0,`,`4200000910202101282955148400,`S20210128153505214586,`ofyak5qR_1wYsC99CsWA6R9MJazA,`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`for testing,`cipher code,`0.00000,`1.00%,`0.01,`0.00,`\n" +
	"`2021-01-28 16:59:46,`wx81be3101902f7cb2,`1601959334,`0,`,`4200000926202101281412639609,`S20210128165824499930,`ofyak5qR_1wYsC99CsWA6R9MJazA,`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`for testing,`cipher code,`0.00000,`1.00%,`0.01,`0.00,`\n" +
	"总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n" +
	"`3,`0.03,`0.00,`0.00,`0.00000,`0.03,`0.00\n"

const realBillSHA1 = "b18b51eb64422040e5ad738d47b358a40b1a7997"

func gz(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return b.String()
}

// The two calls on the wire: tradebill with the account and GZIP, then the
// download_url as returned, both signed; the file answer is unsigned and
// accepted only when its SHA-1 (after gunzip) is tradebill's hash_value.
func TestDownloadStatementWire(t *testing.T) {
	day := providers.Day{Year: 2021, Month: 1, Day: 28}
	for _, tc := range []struct {
		name     string
		params   providers.Params
		hash     string
		url      func(base string) string
		wantRows int
		wantErr  error
		wantCode providers.ErrorCode
		wantURI  string
		requests int
	}{
		{"direct", directParams(), realBillSHA1, func(b string) string { return b + "/v3/billdownload/file?token=t0k" }, 3, nil, "",
			"/v3/bill/tradebill?bill_date=2021-01-28&bill_type=ALL&tar_type=GZIP", 2},
		{"partner", partnerParams(), strings.ToUpper(realBillSHA1), func(b string) string { return b + "/v3/billdownload/file?token=t0k" }, 3, nil, "",
			"/v3/bill/tradebill?bill_date=2021-01-28&bill_type=ALL&sub_mchid=" + tSubMchID + "&tar_type=GZIP", 2},
		{"hash mismatch", directParams(), strings.Replace(realBillSHA1, "b1", "c1", 1), func(b string) string { return b + "/v3/billdownload/file?token=t0k" }, 0,
			providers.ErrVerification, providers.ErrCodeBadResponse, "", 2},
		{"download_url elsewhere", directParams(), realBillSHA1, func(string) string { return "https://evil.example/v3/billdownload/file?token=t0k" }, 0,
			nil, providers.ErrCodeBadResponse, "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeWeChat(t)
			f.answer = func(r recorded) (int, string, bool) {
				if r.Path == pathTradeBill {
					return 200, `{"hash_type":"SHA1","hash_value":"` + tc.hash + `","download_url":"` + tc.url(f.srv.URL) + `"}`, true
				}
				return 200, gz(realBill), false
			}
			p := newTestProvider(t, tc.params, f.srv.URL)
			var rows []providers.StatementRow
			sum, err := p.DownloadStatement(context.Background(), day, nil, func(r providers.StatementRow) error {
				rows = append(rows, r)
				return nil
			})
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) || tc.wantCode != "" && providers.CodeOf(err) != tc.wantCode || tc.wantCode == "" && err != nil {
				t.Fatalf("err %v", err)
			}
			if len(rows) != tc.wantRows {
				t.Fatalf("%d rows reached the gateway", len(rows))
			}
			f.mu.Lock()
			reqs := append([]recorded(nil), f.reqs...)
			f.mu.Unlock()
			if len(reqs) != tc.requests {
				t.Fatalf("%d requests", len(reqs))
			}
			for _, r := range reqs {
				if r.AuthErr != nil {
					t.Fatalf("%s not signed right: %v", r.URI, r.AuthErr)
				}
			}
			if tc.wantURI != "" && reqs[0].URI != tc.wantURI {
				t.Fatalf("tradebill URI %s", reqs[0].URI)
			}
			if tc.wantRows > 0 && (reqs[1].URI != "/v3/billdownload/file?token=t0k" || sum.Rows != 3 || rows[0].OutTradeNo != "S20210128170702357723") {
				t.Fatalf("download %s, summary %+v", reqs[1].URI, sum)
			}
		})
	}
}

// tradebill's error codes (wechatpay.md §10.2): no bill, still creating.
func TestDownloadStatementErrors(t *testing.T) {
	for code, want := range map[string]error{"NO_STATEMENT_EXIST": providers.ErrNoStatement, "STATEMENT_CREATING": providers.ErrStatementNotReady} {
		f := newFakeWeChat(t)
		f.answer = func(recorded) (int, string, bool) { return 400, `{"code":"` + code + `","message":"x"}`, false }
		p := newTestProvider(t, directParams(), f.srv.URL)
		_, err := p.DownloadStatement(context.Background(), providers.Day{Year: 2024, Month: 1, Day: 1}, nil, func(providers.StatementRow) error { return nil })
		if !errors.Is(err, want) {
			t.Errorf("%s: %v", code, err)
		}
	}
}
