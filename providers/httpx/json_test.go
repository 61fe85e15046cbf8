package httpx

import (
	"encoding/json"
	"testing"
)

func TestJSONKeepsWhatIsSigned(t *testing.T) {
	b, err := EncodeJSON(map[string]string{"notify_url": "https://x.example/n?a=1&b=<2>"})
	if err != nil || string(b) != `{"notify_url":"https://x.example/n?a=1&b=<2>"}` {
		t.Fatalf("EncodeJSON = %s, %v", b, err)
	}
	var m map[string]any
	if err := DecodeJSON([]byte(`{"amount": 24.90, "big": 12345678901234567890}`), &m); err != nil {
		t.Fatal(err)
	}
	if m["amount"] != json.Number("24.90") || m["big"] != json.Number("12345678901234567890") {
		t.Fatalf("numbers not kept as sent: %#v", m)
	}
}
