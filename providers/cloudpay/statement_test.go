package cloudpay

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/paygate/paygate/providers"
)

// The Cloud Run bill answers (wechatpay.md §10.3, from
// developers.weixin.qq.com .../pay/order/bill.html): respdata is the bill
// as a string, or the v2 failure object ("No Bill Exist", 20002).
func TestDownloadStatementWire(t *testing.T) {
	bill := "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n" +
		"`2022-03-21 10:01:02,`wxd2565e6a04246fd1,`1800008281,`1712734762,`,`4200001234202203211234567890,`CP20220321A,`oPoo3,`JSAPI,`SUCCESS,`OTHERS,`CNY,`8.80,`0.00,`0,`0,`0.00,`0.00,`,`,`Tea,`,`0.05000,`0.60%,`8.80,`0.00,`\n" +
		"总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n" +
		"`1,`8.80,`0.00,`0.00,`0.05000,`8.80,`0.00\n"
	quoted, _ := json.Marshal(bill)
	day := providers.Day{Year: 2022, Month: 3, Day: 21}
	for _, tc := range []struct {
		name, answer string
		rows         int
		want         error
		code         providers.ErrorCode
	}{
		{"bill", resp(string(quoted)), 1, nil, ""},
		{"no bill", resp(`{"return_code":"FAIL","return_msg":"No Bill Exist","error_code":"20002"}`), 0, providers.ErrNoStatement, ""},
		{"creating", resp(`{"return_code":"FAIL","return_msg":"Bill Creating"}`), 0, providers.ErrStatementNotReady, ""},
		{"system busy", `{"errcode":-1,"errmsg":"system busy"}`, 0, nil, providers.ErrCodeUnavailable},
		{"neither", resp(`17`), 0, nil, providers.ErrCodeBadResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.answer = tc.answer
			p := newP(t, params(), f.srv.URL)
			n := 0
			sum, err := p.DownloadStatement(context.Background(), day, nil, func(r providers.StatementRow) error {
				if r.OutTradeNo != "CP20220321A" || r.Amount.Minor != 880 {
					t.Errorf("row %+v", r)
				}
				n++
				return nil
			})
			switch {
			case tc.want != nil && !errors.Is(err, tc.want), tc.code != "" && providers.CodeOf(err) != tc.code, tc.want == nil && tc.code == "" && err != nil:
				t.Fatalf("err %v", err)
			}
			if n != tc.rows || (tc.rows > 0 && sum.Rows != 1) {
				t.Fatalf("%d rows, %+v", n, sum)
			}
			if f.path != PathDownloadBill || f.body["bill_date"] != "20220321" || f.body["bill_type"] != "ALL" || f.body["sub_mch_id"] != "1712734762" {
				t.Fatalf("request %s %v", f.path, f.body)
			}
		})
	}
}
