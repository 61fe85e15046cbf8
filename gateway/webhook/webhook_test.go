package webhook

import (
	"testing"
	"time"
)

func TestSign(t *testing.T) {
	// printf '%s' '1700000000.{"id":"evt_1"}' | openssl dgst -sha256 -hmac 'whsec-test-0123456789'
	const expectedSignature = "7f849b5c4a4aadd4b1d80d84679ec6cc9833b2807e637eff7e5c0ff209c70cc8"
	body := []byte(`{"id":"evt_1"}`)
	got := Sign("whsec-test-0123456789", 1700000000, body)
	if got != expectedSignature {
		t.Fatalf("Sign = %s, want %s", got, expectedSignature)
	}
	now := time.Unix(1700000000, 0)
	tests := []struct {
		name, ts, sig string
		body          []byte
		at            time.Time
		ok            bool
	}{
		{"valid", "1700000000", expectedSignature, body, now, true},
		{"valid within tolerance", "1700000000", expectedSignature, body, now.Add(4 * time.Minute), true},
		{"replayed later", "1700000000", expectedSignature, body, now.Add(6 * time.Minute), false},
		{"tampered body", "1700000000", expectedSignature, []byte(`{"id":"evt_2"}`), now, false},
		{"other timestamp", "1700000001", expectedSignature, body, now, false},
		{"garbage timestamp", "x", expectedSignature, body, now, false},
		{"wrong signature", "1700000000", "00", body, now, false},
	}
	for _, tt := range tests {
		if got := Verify("whsec-test-0123456789", tt.ts, tt.sig, tt.body, tt.at, 5*time.Minute); got != tt.ok {
			t.Errorf("%s: Verify = %v, want %v", tt.name, got, tt.ok)
		}
	}
}

func TestScheduleIsWeChatLength(t *testing.T) {
	var total time.Duration
	for _, d := range Schedule {
		total += d
	}
	// WeChat: 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h = 24h4m.
	if len(Schedule) != 15 || total != 24*time.Hour+4*time.Minute {
		t.Fatalf("%d retries over %s, want 15 over 24h4m", len(Schedule), total)
	}
}
