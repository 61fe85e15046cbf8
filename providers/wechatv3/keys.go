package wechatv3

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// minRSABits: WeChat Pay issues RSA-2048 keys; anything shorter is refused.
const minRSABits = 2048

// loadPrivateKeyFile reads the merchant API private key (apiclient_key.pem)
// in PKCS#8 ("PRIVATE KEY", what the WeChat tool writes) or PKCS#1
// ("RSA PRIVATE KEY") form.
func loadPrivateKeyFile(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parsePrivateKeyPEM(data)
}

// parsePrivateKeyPEM parses the first private key block of data.
func parsePrivateKeyPEM(data []byte) (*rsa.PrivateKey, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM private key block found")
		}
		switch block.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse PKCS#8 private key: %v", err)
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("private key is %T, want RSA", k)
			}
			return checkRSAPrivate(rk)
		case "RSA PRIVATE KEY":
			rk, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse PKCS#1 private key: %v", err)
			}
			return checkRSAPrivate(rk)
		}
	}
}

func checkRSAPrivate(k *rsa.PrivateKey) (*rsa.PrivateKey, error) {
	if k.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("RSA key has %d bits, want at least %d", k.N.BitLen(), minRSABits)
	}
	return k, nil
}

// loadPublicKeyFile reads the WeChat Pay public key (pub_key.pem from the
// merchant platform): PKIX "PUBLIC KEY", or PKCS#1 "RSA PUBLIC KEY".
func loadPublicKeyFile(path string) (*rsa.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parsePublicKeyPEM(data)
}

func parsePublicKeyPEM(data []byte) (*rsa.PublicKey, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM public key block found")
		}
		switch block.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse public key: %v", err)
			}
			rk, ok := k.(*rsa.PublicKey)
			if !ok {
				return nil, fmt.Errorf("public key is %T, want RSA", k)
			}
			return checkRSAPublic(rk)
		case "RSA PUBLIC KEY":
			rk, err := x509.ParsePKCS1PublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse PKCS#1 public key: %v", err)
			}
			return checkRSAPublic(rk)
		}
	}
}

func checkRSAPublic(k *rsa.PublicKey) (*rsa.PublicKey, error) {
	if k.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("RSA key has %d bits, want at least %d", k.N.BitLen(), minRSABits)
	}
	return k, nil
}

// loadCertificatesFile reads every CERTIFICATE block of a PEM file.
func loadCertificatesFile(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseCertificatesPEM(data)
}

func parseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %v", err)
		}
		if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("certificate %s has a %T key, want RSA", certSerial(c), c.PublicKey)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// certSerial is a certificate's serial number as WeChat writes it: upper
// case hex without leading zeros (e.g. "D7CE59D1F522D701").
func certSerial(c *x509.Certificate) string {
	return strings.ToUpper(c.SerialNumber.Text(16))
}

// normSerial normalises a serial from config or a header for comparison.
func normSerial(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	s = strings.TrimLeft(s, "0")
	return s
}

// samePublicKey reports whether two RSA public keys are equal.
func samePublicKey(a, b *rsa.PublicKey) bool {
	return a != nil && b != nil && a.E == b.E && a.N.Cmp(b.N) == 0
}
