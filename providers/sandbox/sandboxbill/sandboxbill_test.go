package sandboxbill

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
	"time"
)

// The simulators' bill, byte for byte: the documented 27-column header,
// backtick-prefixed fields, refund rows with 交易状态 REFUND, fees at
// 0.60% in five decimals (negative on refunds), and a summary line that
// adds the rows up.
func TestWrite(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 4, 5, 0, beijing)
	bill := string(Write([]Line{
		{Time: at.Add(time.Hour), AppID: "wx1", MchID: "10000100", TransactionID: "4200", OutTradeNo: "O1", OpenID: "o", Body: "Tea",
			Refund: true, AmountFen: 234, RefundID: "5000", OutRefundNo: "R1", RefundStatus: "SUCCESS"},
		{Time: at, AppID: "wx1", MchID: "10000100", TransactionID: "4200", OutTradeNo: "O1", OpenID: "o", Body: "Tea", AmountFen: 1234},
	}))
	want := strings.Join([]string{
		"交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注",
		"`2026-12-03 10:04:05,`wx1,`10000100,`0,`,`4200,`O1,`o,`JSAPI,`SUCCESS,`OTHERS,`CNY,`12.34,`0.00,`0,`0,`0.00,`0.00,`,`,`Tea,`,`0.07404,`0.60%,`12.34,`0.00,`",
		"`2026-12-03 11:04:05,`wx1,`10000100,`0,`,`4200,`O1,`o,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`5000,`R1,`2.34,`0.00,`ORIGINAL,`SUCCESS,`Tea,`,`-0.01404,`0.60%,`0.00,`2.34,`",
		"总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额",
		"`2,`12.34,`2.34,`0.00,`0.06000,`12.34,`2.34",
		"",
	}, "\n")
	if bill != want {
		t.Fatalf("bill:\n%s\nwant:\n%s", bill, want)
	}
	zr, err := gzip.NewReader(bytes.NewReader(Gzip([]byte(bill))))
	if err != nil {
		t.Fatal(err)
	}
	if back, _ := io.ReadAll(zr); string(back) != bill {
		t.Fatal("gzip round trip")
	}
	if !OnDay(at, "20261203") || OnDay(at.Add(14*time.Hour), "20261203") || OnDay(time.Time{}, "20261203") {
		t.Fatal("OnDay")
	}
}
