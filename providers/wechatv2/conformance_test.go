package wechatv2_test

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/providertest"
	_ "github.com/paygate/paygate/providers/sandbox/wechatv2sim"
	"github.com/paygate/paygate/providers/wechatv2"
	_ "github.com/paygate/paygate/providers/wechatv2"
)

const (
	testKey   = "192006250b4c09247ec02edce69f6a2d" // the official §3 vector's key, used as a sandbox key
	testKeySP = "qazwsxedcrfvtgbyhnujmikolp111111"
)

func directChannel(id string) providers.Channel {
	return providers.Channel{
		ID: id, Kind: wechatv2.Kind, Currency: "CNY",
		Params: providers.Params{"appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "api_key": testKey},
	}
}

func spChannel(id string) providers.Channel {
	return providers.Channel{
		ID: id, Kind: wechatv2.Kind, Currency: "CNY",
		Params: providers.Params{
			"appid": "wx8888888888888888", "mch_id": "1900000109", "api_key": testKeySP,
			"sign_type": "HMAC-SHA256", "sub_mch_id": "1900000110", "sub_appid": "wx1234567890abcdef",
		},
	}
}

var signElem = regexp.MustCompile(`<sign>(<!\[CDATA\[)?([0-9A-F]+)`)

// forgeSign alters one hex digit of the <sign> value.
func forgeSign(t *testing.T, genuine providertest.RecordedRequest) providertest.RecordedRequest {
	t.Helper()
	loc := signElem.FindSubmatchIndex(genuine.Body)
	if loc == nil {
		t.Fatalf("no <sign> in %s", genuine.Body)
	}
	body := bytes.Clone(genuine.Body)
	i := loc[4] // first hex digit
	if body[i] == '0' {
		body[i] = '1'
	} else {
		body[i] = '0'
	}
	forged := genuine
	forged.Body = body
	return forged
}

func TestConformanceDirectMD5(t *testing.T) {
	providertest.Run(t, providertest.Config{
		Channel: directChannel("wxv2-direct"),
		Order:   providers.CreateOrderRequest{PayerOpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", Description: "腾讯充值中心-QQ会员充值"},
		Amount:  888,
		Forge:   forgeSign,
	})
}

func TestConformanceServiceProviderHMAC(t *testing.T) {
	providertest.Run(t, providertest.Config{
		Channel: spChannel("wxv2-sp"),
		Order:   providers.CreateOrderRequest{PayerOpenID: "oSubOpenid0000000000000000001", Description: "SP order"},
		Amount:  1001,
		Forge:   forgeSign,
	})
}
