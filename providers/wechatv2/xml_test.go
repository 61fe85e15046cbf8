package wechatv2

import (
	"strings"
	"testing"
)

func TestParseXML(t *testing.T) {
	good := `<?xml version="1.0" encoding="UTF-8"?>
<xml>
  <return_code><![CDATA[SUCCESS]]></return_code>
  <total_fee>1</total_fee>
  <body><![CDATA[a<b & c]]></body>
  <esc>x &amp; y &#20013;</esc>
  <empty/>
  <!-- a comment -->
</xml>
`
	m, err := parseXML([]byte(good), "xml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"return_code": "SUCCESS", "total_fee": "1", "body": "a<b & c", "esc": "x & y 中", "empty": ""}
	if len(m) != len(want) {
		t.Fatalf("got %v", m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
}

func TestParseXMLRefuses(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"DOCTYPE", `<!DOCTYPE xml [<!ENTITY x "y">]><xml><a>&x;</a></xml>`},
		{"DOCTYPE with external entity", `<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><a>&xxe;</a></xml>`},
		{"undeclared entity", `<xml><a>&xxe;</a></xml>`},
		{"duplicate element", `<xml><total_fee>1</total_fee><total_fee>100</total_fee></xml>`},
		{"nested element", `<xml><a><b>1</b></a></xml>`},
		{"text in root", `<xml>hello<a>1</a></xml>`},
		{"wrong root", `<root><a>1</a></root>`},
		{"second root", `<xml><a>1</a></xml><xml><a>2</a></xml>`},
		{"trailing text", `<xml><a>1</a></xml>junk`},
		{"unclosed", `<xml><a>1</a>`},
		{"empty", ``},
		{"not xml", `{"return_code":"SUCCESS"}`},
		{"namespace", `<xml xmlns:p="urn:x"><p:a>1</p:a></xml>`},
		{"processing instruction", `<xml><?evil x?><a>1</a></xml>`},
		{"non-UTF-8 encoding", `<?xml version="1.0" encoding="GBK"?><xml><a>1</a></xml>`},
		{"invalid UTF-8", "<xml><a>\xff\xfe</a></xml>"},
		{"oversized", "<xml><a>" + strings.Repeat("x", MaxBodyBytes) + "</a></xml>"},
	} {
		if m, err := parseXML([]byte(tc.body), "xml"); err == nil {
			t.Errorf("%s: accepted: %v", tc.name, m)
		}
	}
}

func TestEncodeXMLRoundTrip(t *testing.T) {
	in := map[string]string{"body": "Q币]]>充值 <&>", "total_fee": "1", "skip": ""}
	out := encodeXML(in)
	if !strings.HasPrefix(string(out), "<xml><body><![CDATA[") || strings.Contains(string(out), "<skip>") {
		t.Fatalf("encoded %s", out)
	}
	m, err := parseXML(out, "xml")
	if err != nil {
		t.Fatal(err)
	}
	if m["body"] != in["body"] || m["total_fee"] != "1" || len(m) != 2 {
		t.Fatalf("round trip: %v", m)
	}
}

func TestTruncateUTF8(t *testing.T) {
	zh := strings.Repeat("测", 50) // 150 bytes, 3 per rune
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 127, "short"},
		{zh, 127, strings.Repeat("测", 42)}, // 126 bytes: the 43rd rune would end at 129
		{"a" + zh, 127, "a" + strings.Repeat("测", 42)},
		{"ab" + zh, 127, "ab" + strings.Repeat("测", 41) + ""},
		{strings.Repeat("x", 200), 127, strings.Repeat("x", 127)},
		{"€€", 4, "€"},
	} {
		got := truncateUTF8(tc.in, tc.n)
		if got != tc.want || len(got) > tc.n {
			t.Errorf("truncate(%d bytes, %d) = %d bytes %q, want %q", len(tc.in), tc.n, len(got), got, tc.want)
		}
	}
}
