package vrpaymentsim

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
)

// RFC 4231 test cases 2 and 6 (HMAC-SHA-512), for the hand-written HMAC.
func TestHMACSHA512RFC4231(t *testing.T) {
	long := make([]byte, 131)
	for i := range long {
		long[i] = 0xaa
	}
	for _, c := range []struct {
		key  []byte
		msg  string
		want string
	}{
		{[]byte("Jefe"), "what do ya want for nothing?",
			"164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
		{long, "Test Using Larger Than Block-Size Key - Hash Key First",
			"80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"},
	} {
		if got := hex.EncodeToString(hmacSHA512(c.key, []byte(c.msg))); got != c.want {
			t.Errorf("HMAC(%q) = %s, want %s", c.msg, got, c.want)
		}
	}
	// The input slices are not modified.
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keep := append([]byte(nil), key...)
	hmacSHA512(key, []byte("x"))
	if string(key) != string(keep) {
		t.Error("key modified")
	}
}
