package wechatv3

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"fmt"
)

// AlgorithmAEAD is the only resource algorithm WeChat Pay uses.
const AlgorithmAEAD = "AEAD_AES_256_GCM"

// decryptResource opens a notification resource: AES-GCM with the APIv3
// key (32 bytes in production; the function takes any AES key length so
// WPG's 16-byte test vectors run through it unchanged), the 12-byte nonce
// as sent, associated_data as AAD, and base64 ciphertext with the 16-byte
// tag appended.
func decryptResource(key []byte, nonce, associatedData, ciphertextB64 string) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes key: %v", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(nonce) != gcm.NonceSize() {
		return nil, fmt.Errorf("nonce has %d bytes, want %d", len(nonce), gcm.NonceSize())
	}
	ct, err := base64.StdEncoding.DecodeString(ciphertextB64)
	if err != nil {
		return nil, fmt.Errorf("ciphertext is not base64: %v", err)
	}
	pt, err := gcm.Open(nil, []byte(nonce), ct, []byte(associatedData))
	if err != nil {
		return nil, fmt.Errorf("AES-GCM authentication failed (wrong APIv3 key or altered resource)")
	}
	return pt, nil
}
