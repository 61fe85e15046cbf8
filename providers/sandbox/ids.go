package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"math/big"
	"strings"
)

// RandomHex returns 2n lowercase hex digits of n random bytes.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RandomDigits returns n random decimal digits (simulated provider
// numbers such as WeChat's 4200... transaction ids).
func RandomDigits(n int) string {
	return randomFrom("0123456789", n)
}

// RandomString returns n random letters and digits (nonces).
func RandomString(n int) string {
	return randomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", n)
}

func randomFrom(alphabet string, n int) string {
	var b strings.Builder
	max := big.NewInt(int64(len(alphabet)))
	for i := 0; i < n; i++ {
		d, _ := rand.Int(rand.Reader, max)
		b.WriteByte(alphabet[d.Int64()])
	}
	return b.String()
}
