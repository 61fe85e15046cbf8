package wechatv3

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
)

// encryptionKey is the key WeChat wants sensitive request fields (names,
// account numbers) encrypted with: the WeChat Pay public key when
// configured, else the newest platform certificate (spec §11: never a
// hard-coded one). Its serial is requestSerial(), which every request
// carries as Wechatpay-Serial.
func (v *verifier) encryptionKey() (string, *rsa.PublicKey) {
	if v.pubKey != nil && v.pubKeyID != "" {
		return v.pubKeyID, v.pubKey
	}
	if c := v.certSet().newest; c != nil {
		return certSerial(c), c.PublicKey.(*rsa.PublicKey)
	}
	return "", nil
}

// encryptSensitive encrypts one sensitive field: base64 RSA-OAEP with
// SHA-1 (WPG utils.EncryptOAEPWithPublicKey). It returns the serial of the
// key used, which must match the request's Wechatpay-Serial. No API the
// gateway calls today sends such a field; this is where one would.
func (p *Adapter) encryptSensitive(plaintext string) (ciphertext, serial string, err error) {
	serial, key := p.verifier.encryptionKey()
	if key == nil {
		return "", "", errors.New("no WeChat Pay key to encrypt with")
	}
	ct, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, key, []byte(plaintext), nil)
	if err != nil {
		return "", "", fmt.Errorf("encrypt a sensitive field: %w", err)
	}
	return base64.StdEncoding.EncodeToString(ct), serial, nil
}
