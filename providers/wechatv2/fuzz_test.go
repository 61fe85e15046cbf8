package wechatv2

import (
	"bytes"
	"crypto/aes"
	"encoding/base64"
	"testing"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/providertest"
)

// FuzzParseNotify feeds the v2 notification parser any body, and the same
// fields signed (so mutations reach the parsing behind the signature), and
// any refund document encrypted as req_info. Seeds: WeChat's published
// pay notification fields and req_info vector.
func FuzzParseNotify(f *testing.F) {
	p, err := New(providers.Channel{ID: "t", Kind: Kind, Currency: "CNY", NotifyURL: "https://gw.example/notify/t",
		Params: providers.Params{"appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "api_key": reqInfoAPIKey}}, providers.Deps{})
	if err != nil {
		f.Fatal(err)
	}
	a := p.(*Adapter)
	pay := payNotifyFields(false)
	pay["sign"], _ = sign(pay, reqInfoAPIKey, SignMD5)
	f.Add(encodeXML(pay))
	f.Add(refundNotifyXML(reqInfoVector, nil))
	plain, _ := decryptReqInfo(reqInfoVector, reqInfoAPIKey)
	f.Add(plain)
	f.Add([]byte("<xml><return_code>FAIL</return_code></xml>"))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><xml><a>&a;</a></xml>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := parse(a, body)
		providertest.CheckParsed(t, n, err)
		if m, err := parseXML(body, "xml"); err == nil {
			delete(m, "sign")
			if s, err := sign(m, reqInfoAPIKey, SignMD5); err == nil {
				m["sign"] = s
				n, err := parse(a, encodeXML(m))
				providertest.CheckParsed(t, n, err)
			}
		}
		n, err = parse(a, refundNotifyXML(encryptReqInfo(body, reqInfoAPIKey), nil))
		providertest.CheckParsed(t, n, err)
	})
}

// encryptReqInfo is req_info's AES-256-ECB with PKCS#7 padding (test side).
func encryptReqInfo(plain []byte, apiKey string) string {
	block, _ := aes.NewCipher(reqInfoKey(apiKey))
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	pt := append(append([]byte(nil), plain...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	ct := make([]byte, len(pt))
	for i := 0; i < len(pt); i += aes.BlockSize {
		block.Encrypt(ct[i:i+aes.BlockSize], pt[i:i+aes.BlockSize])
	}
	return base64.StdEncoding.EncodeToString(ct)
}
