package wechatbill

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
)

// legacyOfficial is the example of the v2 downloadbill page (ALL, the
// 24-column legacy layout; pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_6,
// also WxJava WxPayBillResultTest PAY_BILL_RESULT_ALL_CONTENT_1), with its
// full-width colons in the times and its integer "0" fee.
const legacyOfficial = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,代金券或立减优惠金额,微信退款单号,商户退款单号,退款金额,代金券或立减优惠退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率\n" +
	"`2014-11-10 16：33：45,`wx2421b1c4370ec43b,`10000100,`0,`1000,`1001690740201411100005734289,`1415640626,`085e9858e3ba5186aafcbaed1,`MICROPAY,`SUCCESS,`OTHERS,`CNY,`0.01,`0.0,`0,`0,`0,`0,`,`,`被扫支付测试,`订单额外描述,`0,`0.60%\n" +
	"`2014-11-10 16：46：14,`wx2421b1c4370ec43b,`10000100,`0,`1000,`1002780740201411100005729794,`1415635270,`085e9858e90ca40c0b5aee463,`MICROPAY,`SUCCESS,`OTHERS,`CNY,`0.01,`0.0,`0,`0,`0,`0,`,`,`被扫支付测试,`订单额外描述,`0,`0.60%\n" +
	"总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额\n" +
	"`2,`0.02,`0.0,`0.0,`0"

// currentHeader is the 27-column ALL header of the current format page
// (https://pay.weixin.qq.com/docs/merchant/products/bill-download/format-trade.html).
const currentHeader = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"

// realV3Bill is a complete three-payment ALL bill of merchant 1601959334
// for 2021-01-28, as served by /v3/billdownload/file (published in a Go
// WeChat Pay v3 client's test, TestDownloadForClient); its summary adds up.
const realV3Bill = currentHeader + "\n" +
	"`2021-01-28 17:07:11,`wx81be3101902f7cb2,`1601959334,`0,`,`4200000925202101284997714292,`S20210128170702357723,`ofyak5qR_1wYsC99CsWA6R9MJazA,`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`for testing,`cipher code,`0.00000,`1.00%,`0.01,`0.00,`\n" +
	"`2021-01-28 15:35:18,`wx81be3101902f7cb2,`1601959334,`0,`,`4200000910202101282955148400,`S20210128153505214586,`ofyak5qR_1wYsC99CsWA6R9MJazA,`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`for testing,`cipher code,`0.00000,`1.00%,`0.01,`0.00,`\n" +
	"`2021-01-28 16:59:46,`wx81be3101902f7cb2,`1601959334,`0,`,`4200000926202101281412639609,`S20210128165824499930,`ofyak5qR_1wYsC99CsWA6R9MJazA,`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`for testing,`cipher code,`0.00000,`1.00%,`0.01,`0.00,`\n" +
	"总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n" +
	"`3,`0.03,`0.00,`0.00,`0.00000,`0.03,`0.00\n"

// wxjavaRefundBill is WxJava's REFUND bill fixture (WxPayBillResultTest
// PAY_BILL_RESULT_REFUND_CONTENT): the REFUND layout with 退款申请时间 and
// 退款成功时间 after column 14, and a negative fee total (fees given back).
// Its summary covers more rows than the excerpt keeps.
const wxjavaRefundBill = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n" +
	"`2019-07-23 20:53:36,`xxx,`xxx,`xxx,`,`xxx,`xxxx,`xxxxx,`JSAPI,`REFUND,`CFT,`CNY,`0.00,`0.00,`2019-07-23 20:53:36,`2019-07-23 20:53:40,`xxxx,`xxx,`0.01,`0.00,`ORIGINAL,`SUCCESS,`xxxx,`xxxx,`0.00000,`0.60%,`0.00,`0.01,`\n" +
	"总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n" +
	"`4,`0.00,`2.02,`0.00,`-0.02000,`0.00,`2.02"

// wxjavaSuccessBill is WxJava's SUCCESS bill fixture (20 columns: no refund
// columns).
const wxjavaSuccessBill = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注\n" +
	"`2019-07-23 18:46:41,`XXXX,`XXX,`XXX,`,`XXX,`XXX,`XXX,`JSAPI,`SUCCESS,`CFT,`CNY,`0.01,`0.00,`XXX,`XXXX,`0.00000,`0.60%,`0.01,`\n" +
	"总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n" +
	"`31,`3.05,`0.00,`0.00,`0.02000,`3.05,`0.00"

// paymentAndRefund is written from the documented current header: a 6.00
// payment with a 1.00 coupon (5.00 settled, fee 0.03000) and its same-day
// partial refund of 2.00, whose product name carries a comma.
const paymentAndRefund = currentHeader + "\r\n" +
	"`2026-12-03 09:15:00,`wxd930ea5d5a258f4f,`10000100,`0,`,`4200001234202612031234567890,`ORDER20261203A,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`5.00,`1.00,`0,`0,`0.00,`0.00,`,`,`Coffee, large,`,`0.03000,`0.60%,`6.00,`0.00,`\r\n" +
	"`2026-12-03 18:02:11,`wxd930ea5d5a258f4f,`10000100,`0,`,`4200001234202612031234567890,`ORDER20261203A,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50300001234202612031234567,`REFUND20261203A,`2.00,`0.00,`ORIGINAL,`SUCCESS,`Coffee, large,`,`-0.01000,`0.60%,`0.00,`2.00,`\r\n" +
	"总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n" +
	"`2,`5.00,`2.00,`0.00,`0.02000,`6.00,`2.00\r\n"

func parseAll(t *testing.T, bill string) ([]providers.StatementRow, providers.StatementSummary, error) {
	t.Helper()
	var rows []providers.StatementRow
	sum, err := Parse(strings.NewReader(bill), func(r providers.StatementRow) error {
		rows = append(rows, r)
		return nil
	})
	return rows, sum, err
}

func cny(minor int64) providers.Money { return providers.Money{Minor: minor, Currency: "CNY"} }

func TestParseOfficialLegacyExample(t *testing.T) {
	rows, sum, err := parseAll(t, legacyOfficial)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	want := providers.StatementRow{
		Kind: providers.StatementPayment, Time: time.Date(2014, 11, 10, 16, 33, 45, 0, Location),
		OutTradeNo: "1415640626", TransactionID: "1001690740201411100005734289",
		Status: "PAID", ProviderStatus: "SUCCESS", Amount: cny(1), Settled: cny(1),
	}
	if !r.Time.Equal(want.Time) || r.OutTradeNo != want.OutTradeNo || r.TransactionID != want.TransactionID ||
		r.Kind != want.Kind || r.Status != want.Status || r.Amount != want.Amount || r.Settled != want.Settled || !r.Fee.IsZero() {
		t.Fatalf("row %+v\nwant %+v", r, want)
	}
	if rows[1].OutTradeNo != "1415635270" || rows[1].Time.In(time.UTC).Format(time.DateTime) != "2014-11-10 08:46:14" {
		t.Fatalf("row 2 %+v", rows[1])
	}
	if !sum.Present || sum.Rows != 2 || sum.Payments.String() != "0.02" || !sum.Refunds.IsZero() || !sum.Fees.IsZero() {
		t.Fatalf("summary %+v", sum)
	}
}

func TestParseRealV3BillAddsUp(t *testing.T) {
	rows, sum, err := parseAll(t, realV3Bill)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, r := range rows {
		if r.Kind != providers.StatementPayment || r.Status != "PAID" || r.OutRefundNo != "" || r.ProviderRefundNo != "" {
			t.Fatalf("row %+v", r)
		}
		total += r.Settled.Minor
	}
	if len(rows) != 3 || sum.Rows != 3 || sum.Payments.String() != "0.03" || total != 3 || sum.Fees.String() != "0" {
		t.Fatalf("rows %d total %d summary %+v", len(rows), total, sum)
	}
	if rows[2].OutTradeNo != "S20210128165824499930" || rows[2].TransactionID != "4200000926202101281412639609" {
		t.Fatalf("row 3 %+v", rows[2])
	}
}

func TestParseGzipBill(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(realV3Bill))
	_ = zw.Close()
	r, err := Decompress(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	sum, err := Parse(r, func(providers.StatementRow) error { n++; return nil })
	if err != nil || n != 3 || sum.Rows != 3 {
		t.Fatalf("gzip: %d rows, %+v, %v", n, sum, err)
	}
	// Plain text passes through Decompress untouched.
	r, _ = Decompress(strings.NewReader(legacyOfficial))
	if _, err := Parse(r, func(providers.StatementRow) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// A corrupt gzip is an unreadable statement, not rows.
	bad := append([]byte{}, buf.Bytes()[:20]...)
	if r, err := Decompress(bytes.NewReader(bad)); err == nil {
		_, err = Parse(r, func(providers.StatementRow) error { return nil })
		if err == nil {
			t.Fatal("truncated gzip read as a bill")
		}
	}
}

func TestParseRefundLayoutAndNegativeFees(t *testing.T) {
	rows, sum, err := parseAll(t, wxjavaRefundBill)
	if err != nil {
		t.Fatal(err)
	}
	r := rows[0]
	if len(rows) != 1 || r.Kind != providers.StatementRefund || r.Status != "SUCCEEDED" || r.OutRefundNo != "xxx" ||
		r.ProviderRefundNo != "xxxx" || r.Amount != cny(1) || r.Settled != cny(1) || r.OutTradeNo != "xxxx" {
		t.Fatalf("refund row %+v", r)
	}
	if sum.Fees.String() != "-0.02" || sum.Refunds.String() != "2.02" || sum.Rows != 4 {
		t.Fatalf("summary %+v", sum)
	}
}

func TestParseSuccessLayout(t *testing.T) {
	rows, sum, err := parseAll(t, wxjavaSuccessBill)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Amount != cny(1) || rows[0].Kind != providers.StatementPayment || sum.Payments.String() != "3.05" || sum.Fees.String() != "0.02" {
		t.Fatalf("rows %+v summary %+v", rows, sum)
	}
}

func TestParsePaymentAndRefundWithCoupon(t *testing.T) {
	rows, sum, err := parseAll(t, paymentAndRefund)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	pay, ref := rows[0], rows[1]
	if pay.Amount != cny(600) || pay.Settled != cny(500) || pay.Fee.String() != "0.03" || pay.OutRefundNo != "" {
		t.Fatalf("payment %+v", pay)
	}
	if ref.Kind != providers.StatementRefund || ref.Amount != cny(200) || ref.OutRefundNo != "REFUND20261203A" ||
		ref.ProviderRefundNo != "50300001234202612031234567" || ref.Fee.String() != "-0.01" || ref.OutTradeNo != "ORDER20261203A" {
		t.Fatalf("refund %+v", ref)
	}
	if sum.Payments.String() != "5" || sum.Refunds.String() != "2" || sum.Fees.String() != "0.02" {
		t.Fatalf("summary %+v", sum)
	}
}

func TestParseRefusesBadInput(t *testing.T) {
	row := func(amount string) string {
		return currentHeader + "\n`2026-12-03 09:15:00,`wx1,`1,`0,`,`42001,`O1,`o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`" + amount +
			",`0.00,`0,`0,`0.00,`0.00,`,`,`x,`,`0.00000,`0.60%,`" + amount + ",`0.00,`\n"
	}
	cases := map[string]string{
		"exponent":           row("6e-05"),
		"negative amount":    row("-1.00"),
		"more decimals":      row("1.001"),
		"space":              row(" 1.00"),
		"empty amount":       row(""),
		"no header":          "`2026-12-03 09:15:00,`wx1\n",
		"missing column":     "交易时间,商户订单号,交易状态\n`2026-12-03 09:15:00,`O1,`SUCCESS\n",
		"field count":        currentHeader + "\n`2026-12-03 09:15:00,`wx1,`1\n",
		"bad time":           strings.Replace(row("1.00"), "2026-12-03 09:15:00", "03/12/2026 09:15", 1),
		"unknown currency":   strings.Replace(row("1.00"), "`CNY", "`RMB", 1),
		"summary truncated":  realV3Bill[:strings.Index(realV3Bill, "`3,`0.03")] + "",
		"text after summary": realV3Bill + "`1,`2\n",
		"duplicate column":   strings.Replace(currentHeader, "设备号", "商户订单号", 1) + "\n",
	}
	for name, bill := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := parseAll(t, bill)
			if !errors.Is(err, providers.ErrBadStatement) {
				t.Fatalf("err = %v, want ErrBadStatement", err)
			}
		})
	}
}

func TestParseWithoutBackticks(t *testing.T) {
	// Some exports (and spreadsheets re-saving a bill) drop the backticks.
	bill := strings.ReplaceAll(realV3Bill, "`", "")
	rows, sum, err := parseAll(t, bill)
	if err != nil || len(rows) != 3 || sum.Rows != 3 || rows[0].OutTradeNo != "S20210128170702357723" {
		t.Fatalf("rows %d sum %+v err %v", len(rows), sum, err)
	}
}

func TestErrorAnswers(t *testing.T) {
	cases := []struct {
		body string
		want error
		code providers.ErrorCode
	}{
		{"<xml><return_code>FAIL</return_code><return_msg>No Bill Exist</return_msg><error_code>20002</error_code></xml>", providers.ErrNoStatement, ""},
		{"<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[NO Bill Exist]]></return_msg></xml>", providers.ErrNoStatement, ""},
		{"\n<xml><return_code>FAIL</return_code><return_msg>Bill Creating</return_msg></xml>", providers.ErrStatementNotReady, ""},
		{"<xml><return_code>FAIL</return_code><return_msg>SYSTEMERROR</return_msg></xml>", nil, providers.ErrCodeUnavailable},
		{"<xml><return_code>FAIL</return_code><return_msg>invalid bill_type</return_msg><error_code>20001</error_code></xml>", nil, providers.ErrCodeRejected},
		{"<xml><return_code>FAIL</return_code><return_msg>SIGN ERROR</return_msg></xml>", nil, providers.ErrCodeRejected},
		{"<!DOCTYPE x [<!ENTITY a 'b'>]><xml><return_msg>&a;</return_msg></xml>", nil, providers.ErrCodeBadResponse},
	}
	for _, c := range cases {
		br := bufio.NewReader(strings.NewReader(c.body))
		if !IsErrorAnswer(br) {
			t.Fatalf("%q not seen as an XML answer", c.body)
		}
		err := ReadErrorAnswer(br)
		switch {
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%q: %v, want %v", c.body, err, c.want)
		case c.want == nil && providers.CodeOf(err) != c.code:
			t.Errorf("%q: %v, want code %s", c.body, err, c.code)
		}
	}
	if IsErrorAnswer(bufio.NewReader(strings.NewReader(realV3Bill))) {
		t.Fatal("a bill taken for an XML answer")
	}
}
