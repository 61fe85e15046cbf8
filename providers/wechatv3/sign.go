package wechatv3

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// AuthSchema is the Authorization scheme of API v3 requests
// (WECHATPAY2-<algorithm>; WPG core/consts).
const AuthSchema = "WECHATPAY2-SHA256-RSA2048"

// signAlgorithm is the <algorithm> part of AuthSchema.
const signAlgorithm = "SHA256-RSA2048"

// requestMessage is the string a request signature covers:
// METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n, URL being path+?query exactly as
// sent and BODY the exact bytes sent (empty for GET).
func requestMessage(method, requestURI string, timestamp int64, nonce string, body []byte) string {
	var b strings.Builder
	b.Grow(len(method) + len(requestURI) + len(nonce) + len(body) + 20)
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(requestURI)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatInt(timestamp, 10))
	b.WriteByte('\n')
	b.WriteString(nonce)
	b.WriteByte('\n')
	b.Write(body)
	b.WriteByte('\n')
	return b.String()
}

// responseMessage is the string a response or notification signature
// covers: TIMESTAMP\nNONCE\nBODY\n over the raw body.
func responseMessage(timestamp, nonce string, body []byte) string {
	return timestamp + "\n" + nonce + "\n" + string(body) + "\n"
}

// authorization formats the Authorization header value in WPG's field
// order. algorithm is normally signAlgorithm.
func authorization(algorithm, mchid, nonce string, timestamp int64, serialNo, signature string) string {
	return fmt.Sprintf(`WECHATPAY2-%s mchid="%s",nonce_str="%s",timestamp="%d",serial_no="%s",signature="%s"`,
		algorithm, mchid, nonce, timestamp, serialNo, signature)
}

// signSHA256WithRSA returns base64(RSASSA-PKCS1-v1_5(SHA-256(message))).
func signSHA256WithRSA(key *rsa.PrivateKey, message string) (string, error) {
	if key == nil {
		return "", errors.New("no private key")
	}
	sum := sha256.Sum256([]byte(message))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// verifySHA256WithRSA checks a base64 SHA256withRSA signature.
func verifySHA256WithRSA(key *rsa.PublicKey, message, signature string) error {
	if key == nil {
		return errors.New("no public key")
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return fmt.Errorf("signature is not base64: %v", err)
	}
	sum := sha256.Sum256([]byte(message))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return errors.New("signature does not verify")
	}
	return nil
}

// paySignMessage is what the v3 mini-program paySign covers:
// appId\ntimeStamp\nnonceStr\npackage\n.
func paySignMessage(appID, timeStamp, nonceStr, pkg string) string {
	return appID + "\n" + timeStamp + "\n" + nonceStr + "\n" + pkg + "\n"
}

const nonceSymbols = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newNonce returns a 32-character random alphanumeric string.
func newNonce() string {
	const n = 32
	out := make([]byte, n)
	max := big.NewInt(int64(len(nonceSymbols)))
	for i := range out {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic("wechatv3: crypto/rand failed: " + err.Error())
		}
		out[i] = nonceSymbols[v.Int64()]
	}
	return string(out)
}
