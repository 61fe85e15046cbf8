package wechatv3

// Published test vectors of wechatpay-apiv3/wechatpay-go (WPG, tag v0.2.21,
// Apache-2.0), run through this adapter's own code. Sources (files read
// from the public repository):
//   - utils/sign_test.go                                        RSA key + SHA256withRSA("source")
//   - core/auth/verifiers/sha256withrsa_pubkey_verifier_test.go public key, key id F5765756002FDD77
//   - core/notify/notify_test.go                                signed + encrypted notification
//   - utils/aes_test.go                                         AES-GCM "Hello World"
//   - core/auth/credentials/wechat_pay_credential_test.go       Authorization string (mock signer)
// plus the self-derived vectors of wechatpay.md §5.3 (AES-256-GCM) and §6
// (v3 paySign), and request-signature vectors computed with openssl.

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
)

// wpgTestingKey is WPG's key; its PEM label "TESTING KEY" is renamed to
// "PRIVATE KEY" exactly as WPG's testingKey() helper does.
const wpgTestingKey = `-----BEGIN TESTING KEY-----
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

// utils/sign_test.go testAlgorithmExpectSignature: SHA256withRSA("source").
const wpgSourceSignature = "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoV" +
	"z+pp4hAm6pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLl" +
	"i/K8V29QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj" +
	"1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg=="

// core/auth/verifiers/sha256withrsa_pubkey_verifier_test.go.
const (
	wpgPubKeyID = "F5765756002FDD77"
	wpgPubKey   = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA2VCTd91fnUn73Xy9DLvt
/V62TVxRTEEstVdeRaZ3B3leO0pldE806mXO4RwdHXagHQ4vGeZN0yqm++rDsGK+
U3AH7kejyD2pXshNP9Cq5YwbptiLGtjcquw4HNxJQUOmDeJf2vg6byms9RUipiq4
SzbJKqJFlUpbuIPDpSpWz10PYmyCNeDGUUK65E5h2B834uxl1zNLYQCrkdBzb8oU
xwYeP5a2DNxmjL5lsJML7DGr5znsevnoqGRwTm9fxCGfy8wus7hwKz6clt3Whmmd
a7UAdb1c08hEQFVRbF14AR73xbnd8N0obCWJPCbzMCtkaSef4FdEEgEXJiw0VAJT
8wIDAQAB
-----END PUBLIC KEY-----`
)

// core/notify/notify_test.go TestHandler_ParseNotifyRequest (clock pinned
// to 1624523846, APIv3 key of 16 bytes = AES-128-GCM).
const (
	wpgNotifyAPIv3Key = "testMchAPIv3Key0"
	wpgNotifyCert     = `-----BEGIN CERTIFICATE-----
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
	wpgNotifySerial    = "D7CE59D1F522D701"
	wpgNotifyTimestamp = "1624523846"
	wpgNotifyNonce     = "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz"
	wpgNotifySignature = "tJHIiIS9eB2hAYstmAmbbD3ZE5LiIm/Ug5tuL4fC0YOFRWIHV39UFIZXC0e9Wl6lBu6sKvkqDkzpqzBsVHyXF" +
		"lbYZTOQrVdG4b6LfTnK4mikv9++ixJMd3vTf2yCqvBkh98zs3Ds5zsYQakzbcwhmw4fMJs4nPLws28H0UW9FjDR//rxELLwXvV1VEA1I" +
		"BLX70xptjL8hrfUjEE8kkry6yNJTHZRU8CAc7qHli2Ng1V1qb9ARbK8A3ThmFmPQvRGrapI/jS2laKKgYUmfdEdkNO6B2Cke5e8VTxY4" +
		"06ArAmQ90GAihDwIcb16TQMnzCMBoutnwZKNiKRACrFmtxw2Q=="
	wpgNotifyBody = "{" +
		"\"id\":\"3119dfba-e649-5eec-ab1e-3412bc4d2e17\"," +
		"\"create_time\":\"2021-06-24T16:37:26+08:00\"," +
		"\"resource_type\":\"encrypt-resource\"," +
		"\"event_type\":\"PAYSCORE.USER_OPEN_SERVICE\"," +
		"\"summary\":\"签约成功\"," +
		"\"resource\":{" +
		"\"original_type\":\"payscore\"," +
		"\"algorithm\":\"AEAD_AES_256_GCM\"," +
		"\"ciphertext\":\"YDS3lKPaC4Y52Gf3uhft5qUBlIa8b428AWTtTauHQfQrRw+X1WpiuHIDy0vo1Vd6VEq67aVyqPdDYMkRVSDaZL3iZt" +
		"tevRMOoPKMifozg6XPWjIZumks/GpT48lI4NizyeaqLBokNebthah3o1H76qSlO9NkDjp9bzmKLEYYH9TEklFUpsvPqOTOcgSLgh21YJXYR" +
		"7dEBXFgRLiNIKRgO5JdXh1hccRUAlyVWxE54PXpnQ==\"," +
		"\"associated_data\":\"payscore\"," +
		"\"nonce\":\"Kj7QIyUiYx1q\"}" +
		"}"
	wpgNotifyPlaintext = "{" +
		"\"mchid\":\"1234567890\"," +
		"\"appid\":\"054aa7d7a2a54ab5898df65bd96f001c\"," +
		"\"create_time\":\"2020-06-30T12:12:00+08:00\"," +
		"\"out_contract_code\":\"21640bdbd08e473e828f3206a2741c6e\"" +
		"}"
)

// utils/aes_test.go.
const (
	wpgAESKey        = "testAPIv3Key0000"
	wpgAESCiphertext = "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC"
	wpgAESPlaintext  = "Hello World"
	wpgAESNonce      = "wCq51qZv4Yfg"
	wpgAESAAD        = "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8"
)

// wechatpay.md §5.3 self-derived AES-256-GCM vector (Go and Python agree).
const (
	v3AES256Key        = "0123456789abcdef0123456789abcdef"
	v3AES256Nonce      = "abcdefghijkl"
	v3AES256AAD        = "transaction"
	v3AES256Plaintext  = `{"mchid":"1900000109","out_trade_no":"T20240101000001","transaction_id":"4200000000000000000000000001","trade_state":"SUCCESS","amount":{"total":100,"currency":"CNY"}}`
	v3AES256Ciphertext = "Eu6k3KOMCfFZPsMoOqloD2wAiyabrE00a8ph6KA9qo8zps/eFHamkXpIpJA/o7btrmWMhIp8WtmqjS4j38zrMaWc55KTlER3J20xWBlY1A3KxdtEmK8XOeFhQOIRj0oFgb/DisiKZizUvQn7H+8T22rOmXwRcCIvvGfSAOtuYSiwdVl4Z4tMjrVA82WKZLTKrsUXzObiPmO2hb2/yZ44QNq8c98kwpDhP+/OIyy9f6D/NKsorJks"
)

// wechatpay.md §6 self-derived v3 paySign with WPG's key; openssl agrees:
//
//	printf 'wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx201410272009395522657a690389285100\n' \
//	  | openssl dgst -sha256 -sign wpg_key.pem | base64 -w0
const v3PaySign = "UV+EKQ3OdnOkUbbKaVi53s/67T59JbHx9gc9MaWoQEOaiZH+uYMByfW2MWXTZW1gnOXl1CqwzHtx7QUxfatSdSxgBhbNhJx1QaxkP0zSXAgXIoWPAktOlj9n/phfOH95rNl8bHzRDUoNAMQmfQy8SHGooKtEU6/87nWXHhcYarv/nmtgAJcwsV+lGJQ4jLZhGl5BaAvpLW1Xg8yYg1DXNjik2SPK8d+4FRSkW671wIvxXQCYqG3mi3FvxP5XJ3OBVbPk4GRf/8wi2r2eiqXYd5e4mRMIAOGxqape9Cm46kxrjlHF0uM+wSir4Nychn2H5geUh2YvE8vJJMAqmkN2gg=="

// Request-signature vectors computed with openssl and WPG's key
// (wpg_key.pem = wpgTestingKey with the label renamed):
//
//	printf 'GET\n/v3/pay/transactions/out-trade-no/T20240101000001?mchid=1900000109\n1624523846\nA1B2C3D4E5F6G7\n\n' \
//	  | openssl dgst -sha256 -sign wpg_key.pem | base64 -w0
//	printf 'POST\n/v3/pay/transactions/out-trade-no/T20240101000001/close\n1624523846\nA1B2C3D4E5F6G7\n{"mchid":"1900000109"}\n' \
//	  | openssl dgst -sha256 -sign wpg_key.pem | base64 -w0
const (
	opensslGetSignature  = "PcFZtw4iC4Wb8ncMiH41cpMkS9UI2GXEkLIi9+b1W/dGPrYFME8ZTp9CeaVUIrKX9WMArLhBVScS+clUH5xeoBo4VoZUOQFZ/fs4L4+x1VUCl3/81djULTbL8oJgxhUkKPT6XMj1GbPeRngaTFyG3E7sK3YZyJDyDNq3oNx/lAwfw2hBDDExi0YkYbMcvphDT61h0vhNVl64kEXuwye1a1KCdXLIPFx56inCXE/2XuUj+uZpTiVD+FZwBGuIJtuFya+gLyiV+3d4/GuqpDWTgjVgOTv7zmhelDIRnLizLNovkwsEwZuMUD/tReAp8to/WGwP2uInX7fhj3BzyqLL7w=="
	opensslPostSignature = "c1cYTBoxuKetdh9OkyxK2mkIh4LNdT/8CI2XfYdHlimmju91OQEpNZmDsqenBugLfMQq5qBVsFoL9oBdIR04TBPtQpAMz5Egrlo6vvSXy/I5msNbMbziLGnTnGOuljwHq8VjNrZIOwGLJdIZQfyqYN2RJsg5Oaq3fFJOHfEDgJ7Sq9PXNrRAI6ohVEeSn1EComiUOip6FosKGXJP2sMF41D/s+iFWGR+GxgcqrDpSKsMLE8QYJdL0DsaMUihsDYYTFwJzi150GILh+hURriAmZR2omlLzGW5kqK8LQeeMF+sy9DF8wcC+ddYQhpAzklNSxzD7UZnLljaqg89Rfd4Qg=="
)

func wpgKeyPEM() []byte {
	return []byte(strings.ReplaceAll(wpgTestingKey, "TESTING KEY", "PRIVATE KEY"))
}

func TestVectorWPGSignSource(t *testing.T) {
	key, err := parsePrivateKeyPEM(wpgKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	got, err := signSHA256WithRSA(key, "source")
	if err != nil {
		t.Fatal(err)
	}
	if got != wpgSourceSignature {
		t.Fatalf("signature of \"source\" = %s\nwant %s", got, wpgSourceSignature)
	}
	if _, err := signSHA256WithRSA(nil, "source"); err == nil {
		t.Fatal("signing with no key succeeded")
	}
}

func TestVectorWPGPublicKeyVerifier(t *testing.T) {
	pub, err := parsePublicKeyPEM([]byte(wpgPubKey))
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(wpgPubKeyID, pub, nil, time.Now)
	tests := []struct {
		name, serial, message, signature string
		wantErr                          bool
	}{
		{"verify success", wpgPubKeyID, "source", wpgSourceSignature, false},
		{"wrong message", wpgPubKeyID, "wrong source", wpgSourceSignature, true},
		{"empty message", wpgPubKeyID, "", wpgSourceSignature, true},
		{"empty signature", wpgPubKeyID, "source", "", true},
		{"non-base64 signature", wpgPubKeyID, "source", "invalid base64 signature", true},
		{"empty key id", "", "source", wpgSourceSignature, true},
		{"no key for the serial", "invalid serial number", "source", wpgSourceSignature, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := v.keyFor(tt.serial)
			if err == nil {
				err = verifySHA256WithRSA(key, tt.message, tt.signature)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func wpgNotifyHeaders() http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(HeaderNonce, wpgNotifyNonce)
	h.Set(HeaderTimestamp, wpgNotifyTimestamp)
	h.Set(HeaderSerial, wpgNotifySerial)
	h.Set(HeaderSignature, wpgNotifySignature)
	return h
}

// TestVectorWPGNotify runs WPG's notification through the same verifier
// and GCM function ParseNotify uses (ParseNotify itself insists on a
// 32-byte APIv3 key and known event types; the vector has a 16-byte key
// and a PAYSCORE event).
func TestVectorWPGNotify(t *testing.T) {
	certs, err := parseCertificatesPEM([]byte(wpgNotifyCert))
	if err != nil {
		t.Fatal(err)
	}
	if got := certSerial(certs[0]); got != wpgNotifySerial {
		t.Fatalf("certificate serial = %s, want %s", got, wpgNotifySerial)
	}
	at := func(sec int64) func() time.Time { return func() time.Time { return time.Unix(sec, 0) } }
	body := []byte(wpgNotifyBody)

	for _, tt := range []struct {
		name    string
		now     int64
		mutate  func(http.Header)
		body    []byte
		wantErr bool
	}{
		{"genuine, clock pinned", 1624523846, nil, body, false},
		{"genuine, 299 s later", 1624523846 + 299, nil, body, false},
		{"genuine, 299 s earlier", 1624523846 - 299, nil, body, false},
		{"stale: exactly 300 s later", 1624523846 + 300, nil, body, true},
		{"stale: 300 s earlier", 1624523846 - 300, nil, body, true},
		{"serial in lower case", 1624523846, func(h http.Header) { h.Set(HeaderSerial, strings.ToLower(wpgNotifySerial)) }, body, false},
		{"unknown serial", 1624523846, func(h http.Header) { h.Set(HeaderSerial, "5157F09EFDC096DE15EBE81A47057A7232F1B8E1") }, body, true},
		{"SIGNTEST probe", 1624523846, func(h http.Header) { h.Set(HeaderSignature, SignTestPrefix+wpgNotifySignature) }, body, true},
		{"body altered", 1624523846, nil, []byte(strings.Replace(wpgNotifyBody, "签约成功", "签约失败", 1)), true},
		{"nonce altered", 1624523846, func(h http.Header) { h.Set(HeaderNonce, "X"+wpgNotifyNonce[1:]) }, body, true},
		{"no signature", 1624523846, func(h http.Header) { h.Del(HeaderSignature) }, body, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := wpgNotifyHeaders()
			if tt.mutate != nil {
				tt.mutate(h)
			}
			err := newVerifier("", nil, certs, at(tt.now)).verify(h, tt.body)
			if (err != nil) != tt.wantErr {
				t.Fatalf("verify: %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, providers.ErrVerification) {
				t.Fatalf("error %v does not wrap ErrVerification", err)
			}
		})
	}

	env, err := parseEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	if env.ID != "3119dfba-e649-5eec-ab1e-3412bc4d2e17" || env.EventType != "PAYSCORE.USER_OPEN_SERVICE" || env.Resource.Algorithm != AlgorithmAEAD {
		t.Fatalf("envelope = %+v", env)
	}
	pt, err := decryptResource([]byte(wpgNotifyAPIv3Key), env.Resource.Nonce, env.Resource.AssociatedData, env.Resource.Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != wpgNotifyPlaintext {
		t.Fatalf("plaintext = %s\nwant %s", pt, wpgNotifyPlaintext)
	}
}

func TestVectorAESGCM(t *testing.T) {
	for _, tt := range []struct {
		name, key, nonce, aad, ct, want string
		wantErr                         bool
	}{
		{"WPG aes_test (AES-128)", wpgAESKey, wpgAESNonce, wpgAESAAD, wpgAESCiphertext, wpgAESPlaintext, false},
		{"WPG: invalid base64", wpgAESKey, wpgAESNonce, wpgAESAAD, "invalid cipher", "", true},
		{"WPG: ciphertext too short", wpgAESKey, wpgAESNonce, wpgAESAAD, "SGVsbG8gV29ybGQK", "", true},
		{"WPG: not an AES key", "not a aes key", wpgAESNonce, wpgAESAAD, wpgAESCiphertext, "", true},
		{"WPG: wrong key", "testAPIv3Key1111", wpgAESNonce, wpgAESAAD, wpgAESCiphertext, "", true},
		{"WPG: wrong AAD", wpgAESKey, wpgAESNonce, "transaction", wpgAESCiphertext, "", true},
		{"spec §5.3 AES-256", v3AES256Key, v3AES256Nonce, v3AES256AAD, v3AES256Ciphertext, v3AES256Plaintext, false},
		{"spec §5.3 AES-256, wrong key", "0123456789abcdef0123456789abcdeF", v3AES256Nonce, v3AES256AAD, v3AES256Ciphertext, "", true},
		{"spec §5.3 AES-256, tampered", v3AES256Key, v3AES256Nonce, v3AES256AAD, "Fu6k" + v3AES256Ciphertext[4:], "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decryptResource([]byte(tt.key), tt.nonce, tt.aad, tt.ct)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if string(got) != tt.want {
				t.Fatalf("plaintext = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestVectorWPGAuthorization: WPG's credential test signs with a mock
// signer ("Sign:" + message, algorithm "Mock") at a pinned nonce and time.
func TestVectorWPGAuthorization(t *testing.T) {
	mock := func(msg string) string { return "Sign:" + msg }
	for _, tt := range []struct {
		method, url, body, want string
	}{
		{"GET", "/v3/certificates", "",
			`WECHATPAY2-Mock mchid="1234567890",nonce_str="A1B2C3D4E5F6G7",timestamp="1624523846",` +
				`serial_no="0123456789ABC",signature=` + "\"Sign:GET\n/v3/certificates\n1624523846\nA1B2C3D4E5F6G7\n\n\""},
		{"POST", "/v3/certificates", "Hello World!\n",
			`WECHATPAY2-Mock mchid="1234567890",nonce_str="A1B2C3D4E5F6G7",timestamp="1624523846",` +
				`serial_no="0123456789ABC",signature=` + "\"Sign:POST\n/v3/certificates\n1624523846\nA1B2C3D4E5F6G7\nHello World!\n\n\""},
	} {
		msg := requestMessage(tt.method, tt.url, 1624523846, "A1B2C3D4E5F6G7", []byte(tt.body))
		got := authorization("Mock", "1234567890", "A1B2C3D4E5F6G7", 1624523846, "0123456789ABC", mock(msg))
		if got != tt.want {
			t.Errorf("%s: Authorization =\n%q\nwant\n%q", tt.method, got, tt.want)
		}
	}
}

func TestVectorPaySign(t *testing.T) {
	key, err := parsePrivateKeyPEM(wpgKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	msg := paySignMessage("wx8888888888888888", "1414561699", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", "prepay_id=wx201410272009395522657a690389285100")
	got, err := signSHA256WithRSA(key, msg)
	if err != nil {
		t.Fatal(err)
	}
	if got != v3PaySign {
		t.Fatalf("paySign = %s\nwant %s", got, v3PaySign)
	}
	// Through payParams, with the clock and nonce pinned.
	p := &Adapter{cfg: &config{privateKey: key}, now: func() time.Time { return time.Unix(1414561699, 0) },
		nonce: func() string { return "5K8264ILTKCH16CQ2502SI8ZNMTM67VS" }}
	params, err := p.payParams("wx8888888888888888", "wx201410272009395522657a690389285100")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"appId": "wx8888888888888888", "timeStamp": "1414561699", "nonceStr": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
		"package": "prepay_id=wx201410272009395522657a690389285100", "signType": "RSA", "paySign": v3PaySign}
	for k, v := range want {
		if params[k] != v {
			t.Errorf("payParams[%s] = %q, want %q", k, params[k], v)
		}
	}
}

// TestVectorRequestSigning signs real *http.Request values the way the
// resty hook does and compares with openssl.
func TestVectorRequestSigning(t *testing.T) {
	key, err := parsePrivateKeyPEM(wpgKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := parsePublicKeyPEM([]byte(wpgPubKey))
	p := &Adapter{
		cfg:      &config{mchid: "1900000109", certSerial: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1", privateKey: key},
		verifier: newVerifier("PUB_KEY_ID_0000000000000024101100397200000006", pub, nil, time.Now),
		now:      func() time.Time { return time.Unix(1624523846, 0) },
		nonce:    func() string { return "A1B2C3D4E5F6G7" },
	}
	for _, tt := range []struct {
		method, url, body, wantSig string
	}{
		{"GET", "https://api.mch.weixin.qq.com/v3/pay/transactions/out-trade-no/T20240101000001?mchid=1900000109", "", opensslGetSignature},
		{"POST", "https://api.mch.weixin.qq.com/v3/pay/transactions/out-trade-no/T20240101000001/close", `{"mchid":"1900000109"}`, opensslPostSignature},
	} {
		var req *http.Request
		if tt.body == "" {
			req, _ = http.NewRequest(tt.method, tt.url, nil)
		} else {
			req, _ = http.NewRequest(tt.method, tt.url, strings.NewReader(tt.body))
		}
		if err := p.signRequest(req); err != nil {
			t.Fatal(err)
		}
		want := `WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="A1B2C3D4E5F6G7",timestamp="1624523846",` +
			`serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",signature="` + tt.wantSig + `"`
		if got := req.Header.Get("Authorization"); got != want {
			t.Errorf("%s Authorization =\n%s\nwant\n%s", tt.method, got, want)
		}
		if got := req.Header.Get(HeaderSerial); got != "PUB_KEY_ID_0000000000000024101100397200000006" {
			t.Errorf("Wechatpay-Serial = %q, want the public key id", got)
		}
	}
}

func TestRequestSerialFallsBackToNewestCertificate(t *testing.T) {
	certs, err := parseCertificatesPEM([]byte(wpgNotifyCert))
	if err != nil {
		t.Fatal(err)
	}
	if got := newVerifier("", nil, certs, time.Now).requestSerial(); got != wpgNotifySerial {
		t.Fatalf("requestSerial = %q, want %s", got, wpgNotifySerial)
	}
}
