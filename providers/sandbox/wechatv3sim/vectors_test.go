package wechatv3sim

// The same published vectors as the adapter's tests, run through the
// simulator's own crypto. Sources: wechatpay-apiv3/wechatpay-go v0.2.21
// utils/sign_test.go, core/auth/verifiers/sha256withrsa_pubkey_verifier_test.go,
// core/notify/notify_test.go, utils/aes_test.go,
// core/auth/credentials/wechat_pay_credential_test.go; wechatpay.md §5.3
// (self-derived AES-256-GCM) and §6 (self-derived v3 paySign).

import (
	"crypto/rsa"
	"strings"
	"testing"
)

func certPub(t *testing.T, pemText string) *rsa.PublicKey {
	t.Helper()
	certs, err := DecodeCertificates([]byte(pemText))
	if err != nil {
		t.Fatal(err)
	}
	return certs[0].PublicKey.(*rsa.PublicKey)
}

const wpgKey = `-----BEGIN TESTING KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDZUJN33V+dSfvd
fL0Mu+39XrZNXFFMQSy1V15FpncHeV47SmV0TzTqZc7hHB0ddqAdDi8Z5k3TKqb7
6sOwYr5TcAfuR6PIPaleyE0/0KrljBum2Isa2Nyq7Dgc3ElBQ6YN4l/a+DpvKaz1
FSKmKrhLNskqokWVSlu4g8OlKlbPXQ9ibII14MZRQrrkTmHYHzfi7GXXM0thAKuR
0HNvyhTHBh4/lrYM3GaMvmWwkwvsMavnOex6+eioZHBOb1/EIZ/LzC6zuHArPpyW
3daGaZ1rtQB1vVzTyERAVVFsXXgBHvfFud3w3ShsJYk8JvMwK2RpJ5/gV0QSARcm
LDRUAlPzAgMBAAECggEBAMc7rDeUaXiWv6bMGbZ3BTXpg1FhdddnWUnYE8HfX/km
OFI7XtBHXcgYFpcjYz4D5787pcsk7ezPidAj58zqenuclmjKnUmT3pfbI5eCA2v4
C9HnbYDrmUPK1ZcADtka4D6ScDccpNYNa1g2TFHzkIrEa6H+q7S3O2fqxY/DRVtN
0JIXalBb8daaqL5QVzSmM2BMVnHy+YITJWIkP2a3pKs9C0W65JGDsnG0wVrHinHF
+cnhFZIbaPEI//DAFMc9NkrWOKVRTEgcCUxCFaHOZVNxDWZD7A2ZfJB2rK6eg//y
gEiFDR2h6mTaDowMB4YF2n2dsIO4/dCG8vPHI20jn4ECgYEA/ZGu6lEMlO0XZnam
AZGtiNgLcCfM/C2ZERZE7QTRPZH1WdK92Al9ndldsswFw4baJrJLCmghjF/iG4zi
hhBvLnOLksnZUfjdumxoHDWXo2QBWbI5QsWIE7AuTiWgWj1I7X4fCXSQf6i+M/y2
6TogQ7d0ANpZFyOkTNMn/tiJvLECgYEA22XqlamG/yfAGWery5KNH2DGlTIyd6xJ
WtJ9j3jU99lZ0bCQ5xhiBbU9ImxCi3zgTsoqLWgA/p00HhNFNoUcTl9ofc0G3zwT
D1y0ZzcnVKxGJdZ6ohW52V0hJStAigtjYAsUgjm7//FH7PiQDBDP1Wa6xSRkDQU/
aSbQxvEE8+MCgYEA3bb8krW7opyM0XL9RHH0oqsFlVO30Oit5lrqebS0oHl3Zsr2
ZGgoBlWBsEzk3UqUhTFwm/DhJLTSJ/TQPRkxnhQ5/mewNhS9C7yua7wQkzVmWN+V
YeUGTvDGDF6qDz12/vJAgSwDDRym8x4NcXD5tTw7mmNRcwIfL22SkysThIECgYAV
BgccoEoXWS/HP2/u6fQr9ZIR6eV8Ij5FPbZacTG3LlS1Cz5XZra95UgebFFUHHtC
EY1JHJY7z8SWvTH8r3Su7eWNaIAoFBGffzqqSVazfm6aYZsOvRY6BfqPHT3p/H1h
Tq6AbBffxrcltgvXnCTORjHPglU0CjSxVs7awW3AEQKBgB5WtaC8VLROM7rkfVIq
+RXqE5vtJfa3e3N7W3RqxKp4zHFAPfr82FK5CX2bppEaxY7SEZVvVInKDc5gKdG/
jWNRBmvvftZhY59PILHO2X5vO4FXh7suEjy6VIh0gsnK36mmRboYIBGsNuDHjXLe
BDa+8mDLkWu5nHEhOxy2JJZl
-----END TESTING KEY-----`

const wpgSourceSig = "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoV" +
	"z+pp4hAm6pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLl" +
	"i/K8V29QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj" +
	"1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg=="

const wpgPub = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA2VCTd91fnUn73Xy9DLvt
/V62TVxRTEEstVdeRaZ3B3leO0pldE806mXO4RwdHXagHQ4vGeZN0yqm++rDsGK+
U3AH7kejyD2pXshNP9Cq5YwbptiLGtjcquw4HNxJQUOmDeJf2vg6byms9RUipiq4
SzbJKqJFlUpbuIPDpSpWz10PYmyCNeDGUUK65E5h2B834uxl1zNLYQCrkdBzb8oU
xwYeP5a2DNxmjL5lsJML7DGr5znsevnoqGRwTm9fxCGfy8wus7hwKz6clt3Whmmd
a7UAdb1c08hEQFVRbF14AR73xbnd8N0obCWJPCbzMCtkaSef4FdEEgEXJiw0VAJT
8wIDAQAB
-----END PUBLIC KEY-----`

const wpgCert = `-----BEGIN CERTIFICATE-----
MIIDVzCCAj+gAwIBAgIJANfOWdH1ItcBMA0GCSqGSIb3DQEBCwUAMEIxCzAJBgNV
BAYTAlhYMRUwEwYDVQQHDAxEZWZhdWx0IENpdHkxHDAaBgNVBAoME0RlZmF1bHQg
Q29tcGFueSBMdGQwHhcNMjEwNDI3MDg1NTIzWhcNMzEwNDI1MDg1NTIzWjBCMQsw
CQYDVQQGEwJYWDEVMBMGA1UEBwwMRGVmYXVsdCBDaXR5MRwwGgYDVQQKDBNEZWZh
dWx0IENvbXBhbnkgTHRkMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA
2VCTd91fnUn73Xy9DLvt/V62TVxRTEEstVdeRaZ3B3leO0pldE806mXO4RwdHXag
HQ4vGeZN0yqm++rDsGK+U3AH7kejyD2pXshNP9Cq5YwbptiLGtjcquw4HNxJQUOm
DeJf2vg6byms9RUipiq4SzbJKqJFlUpbuIPDpSpWz10PYmyCNeDGUUK65E5h2B83
4uxl1zNLYQCrkdBzb8oUxwYeP5a2DNxmjL5lsJML7DGr5znsevnoqGRwTm9fxCGf
y8wus7hwKz6clt3Whmmda7UAdb1c08hEQFVRbF14AR73xbnd8N0obCWJPCbzMCtk
aSef4FdEEgEXJiw0VAJT8wIDAQABo1AwTjAdBgNVHQ4EFgQUT1c7nd/SUO76HSoZ
umNUJv1R5PwwHwYDVR0jBBgwFoAUT1c7nd/SUO76HSoZumNUJv1R5PwwDAYDVR0T
BAUwAwEB/zANBgkqhkiG9w0BAQsFAAOCAQEAfTjxKRQMzNB/U6ZoCUS+BSNfa2Oh
0plMN6ZuzwiVVZwg1jywvv5yv04koS7Pd4i9E4gt9ZBUQXlpq+A3oOCEEHNRR6b2
kyazGRM7s0OP5X21WrbpSmKmU6K7hkfx30yYs08LVs/Q8DIhvaj1FCFeJzUCzYn/
fHMq4tsbKO0dKAeydPM/nrUZBmaYQVKMVOORGLFjFKVO7JV6Kq/R86ouhjEPgJOe
2xulNBUcjicqtZlBdEh/PWCYP2SpGVDclKm8jeo175T3EVAkdKzzmfpxtMmnMlmq
cTJOU9TxuGvNASMtjj7pYIerTx+xgZDXEVBWFW9PjJ0TV06tCRsgSHItgg==
-----END CERTIFICATE-----`

const (
	wpgNotifySig = "tJHIiIS9eB2hAYstmAmbbD3ZE5LiIm/Ug5tuL4fC0YOFRWIHV39UFIZXC0e9Wl6lBu6sKvkqDkzpqzBsVHyXF" +
		"lbYZTOQrVdG4b6LfTnK4mikv9++ixJMd3vTf2yCqvBkh98zs3Ds5zsYQakzbcwhmw4fMJs4nPLws28H0UW9FjDR//rxELLwXvV1VEA1I" +
		"BLX70xptjL8hrfUjEE8kkry6yNJTHZRU8CAc7qHli2Ng1V1qb9ARbK8A3ThmFmPQvRGrapI/jS2laKKgYUmfdEdkNO6B2Cke5e8VTxY4" +
		"06ArAmQ90GAihDwIcb16TQMnzCMBoutnwZKNiKRACrFmtxw2Q=="
	wpgNotifyCiphertext = "YDS3lKPaC4Y52Gf3uhft5qUBlIa8b428AWTtTauHQfQrRw+X1WpiuHIDy0vo1Vd6VEq67aVyqPdDYMkRVSDaZL3iZt" +
		"tevRMOoPKMifozg6XPWjIZumks/GpT48lI4NizyeaqLBokNebthah3o1H76qSlO9NkDjp9bzmKLEYYH9TEklFUpsvPqOTOcgSLgh21YJXYR" +
		"7dEBXFgRLiNIKRgO5JdXh1hccRUAlyVWxE54PXpnQ=="
	wpgNotifyBody = `{"id":"3119dfba-e649-5eec-ab1e-3412bc4d2e17","create_time":"2021-06-24T16:37:26+08:00",` +
		`"resource_type":"encrypt-resource","event_type":"PAYSCORE.USER_OPEN_SERVICE","summary":"签约成功",` +
		`"resource":{"original_type":"payscore","algorithm":"AEAD_AES_256_GCM","ciphertext":"` + wpgNotifyCiphertext + `",` +
		`"associated_data":"payscore","nonce":"Kj7QIyUiYx1q"}}`
	wpgNotifyPlain = `{"mchid":"1234567890","appid":"054aa7d7a2a54ab5898df65bd96f001c","create_time":"2020-06-30T12:12:00+08:00","out_contract_code":"21640bdbd08e473e828f3206a2741c6e"}`

	aes256Cipher = "Eu6k3KOMCfFZPsMoOqloD2wAiyabrE00a8ph6KA9qo8zps/eFHamkXpIpJA/o7btrmWMhIp8WtmqjS4j38zrMaWc55KTlER3J20xWBlY1A3KxdtEmK8XOeFhQOIRj0oFgb/DisiKZizUvQn7H+8T22rOmXwRcCIvvGfSAOtuYSiwdVl4Z4tMjrVA82WKZLTKrsUXzObiPmO2hb2/yZ44QNq8c98kwpDhP+/OIyy9f6D/NKsorJks"
	aes256Plain  = `{"mchid":"1900000109","out_trade_no":"T20240101000001","transaction_id":"4200000000000000000000000001","trade_state":"SUCCESS","amount":{"total":100,"currency":"CNY"}}`
	paySign      = "UV+EKQ3OdnOkUbbKaVi53s/67T59JbHx9gc9MaWoQEOaiZH+uYMByfW2MWXTZW1gnOXl1CqwzHtx7QUxfatSdSxgBhbNhJx1QaxkP0zSXAgXIoWPAktOlj9n/phfOH95rNl8bHzRDUoNAMQmfQy8SHGooKtEU6/87nWXHhcYarv/nmtgAJcwsV+lGJQ4jLZhGl5BaAvpLW1Xg8yYg1DXNjik2SPK8d+4FRSkW671wIvxXQCYqG3mi3FvxP5XJ3OBVbPk4GRf/8wi2r2eiqXYd5e4mRMIAOGxqape9Cm46kxrjlHF0uM+wSir4Nychn2H5geUh2YvE8vJJMAqmkN2gg=="
	// openssl (see the adapter's vectors_test.go for the command).
	opensslPost = "c1cYTBoxuKetdh9OkyxK2mkIh4LNdT/8CI2XfYdHlimmju91OQEpNZmDsqenBugLfMQq5qBVsFoL9oBdIR04TBPtQpAMz5Egrlo6vvSXy/I5msNbMbziLGnTnGOuljwHq8VjNrZIOwGLJdIZQfyqYN2RJsg5Oaq3fFJOHfEDgJ7Sq9PXNrRAI6ohVEeSn1EComiUOip6FosKGXJP2sMF41D/s+iFWGR+GxgcqrDpSKsMLE8QYJdL0DsaMUihsDYYTFwJzi150GILh+hURriAmZR2omlLzGW5kqK8LQeeMF+sy9DF8wcC+ddYQhpAzklNSxzD7UZnLljaqg89Rfd4Qg=="
)

func TestSimVectorSignAndVerify(t *testing.T) {
	// WPG's testingKey() renames the PEM label "TESTING KEY" to "PRIVATE KEY".
	key, err := DecodePrivateKey([]byte(strings.ReplaceAll(wpgKey, "TESTING KEY", "PRIVATE KEY")))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := DecodePublicKey([]byte(wpgPub))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ msg, want string }{
		{"source", wpgSourceSig},
		{"wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx201410272009395522657a690389285100\n", paySign},
		{RequestSigningString("POST", "/v3/pay/transactions/out-trade-no/T20240101000001/close", "1624523846", "A1B2C3D4E5F6G7", []byte(`{"mchid":"1900000109"}`)), opensslPost},
	} {
		got, err := SignMessage(key, tt.msg)
		if err != nil || got != tt.want {
			t.Errorf("SignMessage(%q) = %s, %v\nwant %s", tt.msg, got, err, tt.want)
		}
		if err := VerifyMessage(pub, tt.msg, tt.want); err != nil {
			t.Errorf("VerifyMessage(%q): %v", tt.msg, err)
		}
	}
	for _, bad := range []struct{ msg, sig string }{
		{"wrong source", wpgSourceSig}, {"", wpgSourceSig}, {"source", ""}, {"source", "invalid base64 signature"},
	} {
		if VerifyMessage(pub, bad.msg, bad.sig) == nil {
			t.Errorf("VerifyMessage(%q, %.10q) accepted", bad.msg, bad.sig)
		}
	}
}

func TestSimVectorNotifySignature(t *testing.T) {
	certs, err := DecodeCertificates([]byte(wpgCert))
	if err != nil {
		t.Fatal(err)
	}
	if SerialHex(certs[0]) != "D7CE59D1F522D701" {
		t.Fatalf("serial = %s", SerialHex(certs[0]))
	}
	msg := AnswerSigningString("1624523846", "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz", []byte(wpgNotifyBody))
	if err := VerifyMessage(certPub(t, wpgCert), msg, wpgNotifySig); err != nil {
		t.Fatalf("WPG notification signature: %v", err)
	}
	if VerifyMessage(certPub(t, wpgCert), strings.Replace(msg, "签约成功", "签约失败", 1), wpgNotifySig) == nil {
		t.Fatal("altered notification verified")
	}
}

func TestSimVectorAESGCM(t *testing.T) {
	for _, tt := range []struct{ name, key, nonce, aad, ct, pt string }{
		{"WPG notify (AES-128)", "testMchAPIv3Key0", "Kj7QIyUiYx1q", "payscore", wpgNotifyCiphertext, wpgNotifyPlain},
		{"WPG aes_test (AES-128)", "testAPIv3Key0000", "wCq51qZv4Yfg", "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8", "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC", "Hello World"},
		{"spec §5.3 (AES-256)", "0123456789abcdef0123456789abcdef", "abcdefghijkl", "transaction", aes256Cipher, aes256Plain},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OpenResource([]byte(tt.key), tt.nonce, tt.aad, tt.ct)
			if err != nil || string(got) != tt.pt {
				t.Fatalf("OpenResource = %q, %v", got, err)
			}
			// GCM is deterministic for a given nonce: sealing gives the vector back.
			ct, err := SealResource([]byte(tt.key), tt.nonce, tt.aad, []byte(tt.pt))
			if err != nil || ct != tt.ct {
				t.Fatalf("SealResource = %s, %v\nwant %s", ct, err, tt.ct)
			}
			if _, err := OpenResource([]byte("testAPIv3Key1111"), tt.nonce, tt.aad, tt.ct); err == nil {
				t.Fatal("opened with a wrong key")
			}
		})
	}
}

func TestSimParseAuthorization(t *testing.T) {
	a, err := ParseAuthorization(`WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="A1B2C3D4E5F6G7",timestamp="1624523846",serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",signature="` + opensslPost + `"`)
	if err != nil || a.MchID != "1900000109" || a.Nonce != "A1B2C3D4E5F6G7" || a.Timestamp != "1624523846" ||
		a.SerialNo != "5157F09EFDC096DE15EBE81A47057A7232F1B8E1" || a.Signature != opensslPost {
		t.Fatalf("%+v, %v", a, err)
	}
	// WPG's own test header (mock algorithm): parsed fields, refused schema.
	if _, err := ParseAuthorization(`WECHATPAY2-Mock mchid="1234567890",nonce_str="A1B2C3D4E5F6G7",timestamp="1624523846",serial_no="0123456789ABC",signature="Sign:x"`); err == nil {
		t.Fatal("mock schema accepted")
	}
	for _, bad := range []string{"", "Bearer abc", `WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="n",timestamp="1"`} {
		if _, err := ParseAuthorization(bad); err == nil {
			t.Errorf("ParseAuthorization(%q) accepted", bad)
		}
	}
}
