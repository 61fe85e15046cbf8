package cloudpay

import (
	"context"
	"testing"

	"github.com/paygate/paygate/providers/providertest"
)

// FuzzParseNotify: cloud pay callbacks are unsigned JSON hints. Seeds: the
// Cloud Run callback page's example and a refund callback.
func FuzzParseNotify(f *testing.F) {
	p, err := newAdapter(testChannel(), testDeps())
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"returnCode":"SUCCESS","appid":"wxd2565e6a04246fd1","mchId":"1800780001","subAppid":"wxd2565e6a04246fd1","subMchId":"1712734762","nonceStr":"f6444fd22de27b16","resultCode":"SUCCESS","openid":"oPoo341Im-roYxAd3WD3D_6J-4bA","isSubscribe":"N","subOpenid":"oZWaC4xeOVCUkip5njeEeXi1TEsk","subIsSubscribe":"N","tradeType":"JSAPI","bankType":"OTHERS","totalFee":1,"feeType":"CNY","cashFee":1,"transactionId":"4200004561202203217657282768","outTradeNo":"2021WERUN1647839289398","timeEnd":"20220321132007"}`))
	f.Add([]byte(`{"returnCode":"SUCCESS","subMchId":"1712734762","outTradeNo":"T1","outRefundNo":"R1","refundId":"5001","refundStatus":"SUCCESS","refundFee":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := p.ParseNotify(context.Background(), nil, body)
		providertest.CheckParsed(t, n, err)
	})
}
