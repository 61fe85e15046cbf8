package twopaynow

import (
	"testing"

	"github.com/paygate/paygate/providers/sandbox/twopaynowsim"
)

// Signing vectors. Each expected value was computed independently of this
// code with coreutils md5sum:
//
//	printf '%s' 'precreate40025633691571034662245zG93Cv85BCCp2h' | md5sum
//	  -> 4f83e30f527ff4ed0fc9c03185f43f97
//	  (also the published value: the `sign` of the notification in
//	  omnipay-2paynow tests/TwoPayNowTest.php, key zG93Cv85BCCp2h,
//	  mid 4002563369, timestamp 1571034662245)
//	printf '%s' 'query40025633691700000000000zG93Cv85BCCp2h' | md5sum
//	  -> 897f3025401a7a3cefe81bac5551fe07
//	printf '%s' 'refund10000011700000000123S3cr3t-K3y' | md5sum
//	  -> 15ae9a95810ed1460751fadf4536ebb8
var signVectors = []struct {
	function, mid, timestamp, key, want string
}{
	{"precreate", "4002563369", "1571034662245", "zG93Cv85BCCp2h", "4f83e30f527ff4ed0fc9c03185f43f97"},
	{"query", "4002563369", "1700000000000", "zG93Cv85BCCp2h", "897f3025401a7a3cefe81bac5551fe07"},
	{"refund", "1000001", "1700000000123", "S3cr3t-K3y", "15ae9a95810ed1460751fadf4536ebb8"},
}

func TestSignVectors(t *testing.T) {
	for _, v := range signVectors {
		if got := Sign(v.function, v.mid, v.timestamp, v.key); got != v.want {
			t.Errorf("adapter Sign(%s) = %s, want %s", v.function, got, v.want)
		}
		if got := twopaynowsim.Signature(v.function, v.mid, v.timestamp, v.key); got != v.want {
			t.Errorf("simulator Signature(%s) = %s, want %s", v.function, got, v.want)
		}
		if !verifySign(v.want, v.function, v.mid, v.timestamp, v.key) {
			t.Errorf("verifySign refuses the vector %s", v.function)
		}
		if verifySign(v.want, v.function, v.mid, v.timestamp+"1", v.key) {
			t.Errorf("verifySign accepts a changed timestamp")
		}
	}
}
