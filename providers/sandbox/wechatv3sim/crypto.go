package wechatv3sim

// The simulator's own signing, verification and AES-GCM code, written from
// the spec (wechatpay.md §4, §5.3) apart from the adapter's, so that a
// mistake shared by both cannot pass the tests.

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"regexp"
	"strings"
	"time"
)

// SignMessage returns base64 SHA256withRSA (PKCS#1 v1.5) of msg.
func SignMessage(key *rsa.PrivateKey, msg string) (string, error) {
	h := sha256.New()
	h.Write([]byte(msg))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h.Sum(nil))
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// VerifyMessage checks a base64 SHA256withRSA signature of msg.
func VerifyMessage(pub *rsa.PublicKey, msg, sigB64 string) error {
	raw, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return errors.New("signature is not base64")
	}
	h := sha256.New()
	h.Write([]byte(msg))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h.Sum(nil), raw)
}

// RequestSigningString is the string the merchant signs for a request.
func RequestSigningString(method, uri, timestamp, nonce string, body []byte) string {
	return strings.Join([]string{method, uri, timestamp, nonce, string(body)}, "\n") + "\n"
}

// AnswerSigningString is the string WeChat signs for an answer or a
// notification (an empty body leaves "ts\nnonce\n\n").
func AnswerSigningString(timestamp, nonce string, body []byte) string {
	return strings.Join([]string{timestamp, nonce, string(body)}, "\n") + "\n"
}

// Authorization is a parsed WECHATPAY2-SHA256-RSA2048 header.
type Authorization struct {
	Schema    string
	MchID     string
	Nonce     string
	Timestamp string
	SerialNo  string
	Signature string
}

var authPair = regexp.MustCompile(`([a-z_]+)="([^"]*)"`)

// ParseAuthorization reads the Authorization header of a v3 request.
func ParseAuthorization(h string) (Authorization, error) {
	schema, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok {
		return Authorization{}, errors.New("Authorization has no credentials")
	}
	a := Authorization{Schema: schema}
	for _, m := range authPair.FindAllStringSubmatch(rest, -1) {
		switch m[1] {
		case "mchid":
			a.MchID = m[2]
		case "nonce_str":
			a.Nonce = m[2]
		case "timestamp":
			a.Timestamp = m[2]
		case "serial_no":
			a.SerialNo = m[2]
		case "signature":
			a.Signature = m[2]
		}
	}
	if a.Schema != "WECHATPAY2-SHA256-RSA2048" {
		return a, fmt.Errorf("Authorization schema %q, want WECHATPAY2-SHA256-RSA2048", a.Schema)
	}
	if a.MchID == "" || a.Nonce == "" || a.Timestamp == "" || a.SerialNo == "" || a.Signature == "" {
		return a, errors.New("Authorization lacks mchid, nonce_str, timestamp, serial_no or signature")
	}
	return a, nil
}

// SealResource encrypts a notification resource: AES-GCM with the APIv3
// key, a 12-byte nonce, the associated data as AAD; base64 of
// ciphertext||tag.
func SealResource(key []byte, nonce, aad string, plaintext []byte) (string, error) {
	g, err := newGCM(key)
	if err != nil {
		return "", err
	}
	if len(nonce) != g.NonceSize() {
		return "", fmt.Errorf("nonce must be %d bytes", g.NonceSize())
	}
	return base64.StdEncoding.EncodeToString(g.Seal(nil, []byte(nonce), plaintext, []byte(aad))), nil
}

// OpenResource is SealResource's inverse (used by the simulator's tests
// to check the published vectors).
func OpenResource(key []byte, nonce, aad, ciphertextB64 string) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	ct, err := base64.StdEncoding.DecodeString(ciphertextB64)
	if err != nil {
		return nil, err
	}
	if len(nonce) != g.NonceSize() {
		return nil, fmt.Errorf("nonce must be %d bytes", g.NonceSize())
	}
	return g.Open(nil, []byte(nonce), ct, []byte(aad))
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// ReadPrivateKey loads an RSA private key PEM file (PKCS#8 or PKCS#1).
func ReadPrivateKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodePrivateKey(b)
}

// DecodePrivateKey decodes an RSA private key PEM (PKCS#8 or PKCS#1).
func DecodePrivateKey(b []byte) (*rsa.PrivateKey, error) {
	for {
		blk, rest := pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no private key in PEM")
		}
		b = rest
		if blk.Type == "RSA PRIVATE KEY" {
			return x509.ParsePKCS1PrivateKey(blk.Bytes)
		}
		if blk.Type == "PRIVATE KEY" {
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, err
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, errors.New("not an RSA private key")
			}
			return rk, nil
		}
	}
}

// ReadPublicKey loads an RSA public key PEM file ("PUBLIC KEY").
func ReadPublicKey(path string) (*rsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodePublicKey(b)
}

// DecodePublicKey decodes a PKIX or PKCS#1 RSA public key PEM.
func DecodePublicKey(b []byte) (*rsa.PublicKey, error) {
	for {
		blk, rest := pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no public key in PEM")
		}
		b = rest
		switch blk.Type {
		case "RSA PUBLIC KEY":
			return x509.ParsePKCS1PublicKey(blk.Bytes)
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(blk.Bytes)
			if err != nil {
				return nil, err
			}
			rk, ok := k.(*rsa.PublicKey)
			if !ok {
				return nil, errors.New("not an RSA public key")
			}
			return rk, nil
		}
	}
}

// ReadCertificates loads every certificate of a PEM file.
func ReadCertificates(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeCertificates(b)
}

// DecodeCertificates decodes every CERTIFICATE block.
func DecodeCertificates(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		blk, rest := pem.Decode(b)
		if blk == nil {
			break
		}
		b = rest
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate in PEM")
	}
	return out, nil
}

// SerialHex is a certificate serial as WeChat writes it (upper-case hex).
func SerialHex(c *x509.Certificate) string {
	return fmt.Sprintf("%X", c.SerialNumber)
}

func sameSerial(a, b string) bool {
	return strings.TrimLeft(strings.ToUpper(a), "0") == strings.TrimLeft(strings.ToUpper(b), "0")
}

// SelfSignedCert makes a self-signed certificate for key with the given
// serial, like a WeChat Pay platform certificate (or a merchant API
// certificate) for cert-mode sandboxes. It returns the PEM.
func SelfSignedCert(key *rsa.PrivateKey, serial *big.Int, commonName string, notBefore time.Time, validFor time.Duration) ([]byte, error) {
	tpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Country: []string{"CN"}, Organization: []string{"paygate sandbox (demo, not Tenpay)"},
			OrganizationalUnit: []string{"SANDBOX ONLY"}, CommonName: commonName,
		},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
