package wechatv2

import (
	"maps"
	"testing"
)

// flatXMLCases are documents for the fast path and the decoder together:
// take says whether the fast path must read it itself (WeChat's own
// shapes) or may leave it to the decoder.
var flatXMLCases = []struct {
	name string
	doc  string
	take bool
}{
	{"pay notification", "", true}, // filled in by flatXMLDocs
	{"refund notification", "", true},
	{"refund req_info", "", true},
	{"plain text values", "<xml><return_code>SUCCESS</return_code><total_fee>100</total_fee></xml>", true},
	{"whitespace and newlines", "\n<xml>\n  <a><![CDATA[x]]></a>\n\t<b>1</b>\n</xml>\n", true},
	{"empty value", "<xml><a></a><b><![CDATA[]]></b></xml>", true},
	{"mixed text and CDATA", "<xml><a>x<![CDATA[<y>&]]>z</a></xml>", true},
	{"Chinese", "<xml><body><![CDATA[Q币充值]]></body><attach>测试</attach></xml>", true},
	{"greater-than in text", "<xml><a>1>0</a></xml>", true},
	{"no fields", "<xml></xml>", true},
	{"declaration", `<?xml version="1.0" encoding="UTF-8"?><xml><a>1</a></xml>`, false},
	{"entity", "<xml><a>x &amp; y</a></xml>", false},
	{"character reference", "<xml><a>&#20013;</a></xml>", false},
	{"empty-element tag", "<xml><a/></xml>", false},
	{"comment", "<xml><!-- c --><a>1</a></xml>", false},
	{"space in tag", "<xml><a >1</a ></xml>", false},
	{"attribute", `<xml><a k="v">1</a></xml>`, false},
	{"carriage return", "<xml>\r\n<a>1\r\n</a></xml>", false},
	{"CDATA with carriage return", "<xml><a><![CDATA[1\r\n2]]></a></xml>", false},
	{"duplicate", "<xml><a>1</a><a>2</a></xml>", false},
	{"nested", "<xml><a><b>1</b></a></xml>", false},
	{"text in root", "<xml>hi<a>1</a></xml>", false},
	{"wrong root", "<root><a>1</a></root>", false},
	{"root prefix", "<xmlx><a>1</a></xmlx>", false},
	{"mismatched end", "<xml><a>1</b></xml>", false},
	{"namespace", "<xml><p:a>1</p:a></xml>", false},
	{"unclosed", "<xml><a>1</a>", false},
	{"unclosed CDATA", "<xml><a><![CDATA[1</a></xml>", false},
	{"trailing", "<xml><a>1</a></xml>junk", false},
	{"second root", "<xml></xml><xml></xml>", false},
	{"]]> in text", "<xml><a>]]></a></xml>", false},
	{"invalid UTF-8", "<xml><a>\xff</a></xml>", false},
	{"control character", "<xml><a>\x01</a></xml>", false},
	{"U+FFFE", "<xml><a>\uFFFE</a></xml>", false},
	{"DOCTYPE", `<!DOCTYPE xml [<!ENTITY x "y">]><xml><a>&x;</a></xml>`, false},
	{"empty", "", false},
}

func flatXMLDocs(t testing.TB) map[string]string {
	pay := payNotifyFields(false)
	pay["sign"], _ = sign(pay, reqInfoAPIKey, SignMD5)
	plain, err := decryptReqInfo(reqInfoVector, reqInfoAPIKey)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"pay notification":    string(encodeXML(pay)),
		"refund notification": string(refundNotifyXML(reqInfoVector, nil)),
		"refund req_info":     string(plain),
	}
}

func TestParseFlatXMLAgreesWithDecoder(t *testing.T) {
	docs := flatXMLDocs(t)
	for _, tc := range flatXMLCases {
		doc := tc.doc
		if d, ok := docs[tc.name]; ok {
			doc = d
		}
		root := "xml"
		if tc.name == "refund req_info" {
			root = "root"
		}
		got, took := parseFlatXML([]byte(doc), root)
		if took != tc.take {
			t.Errorf("%s: fast path took it: %v, want %v", tc.name, took, tc.take)
		}
		want, err := decodeXML([]byte(doc), root)
		if took && (err != nil || !maps.Equal(got, want)) {
			t.Errorf("%s: fast path read %v, the decoder %v (%v)", tc.name, got, want, err)
		}
	}
}

// FuzzParseFlatXMLAgreesWithDecoder: whatever the fast path reads, the
// decoder reads too, field for field.
func FuzzParseFlatXMLAgreesWithDecoder(f *testing.F) {
	docs := flatXMLDocs(f)
	for _, tc := range flatXMLCases {
		if d, ok := docs[tc.name]; ok {
			f.Add([]byte(d))
			continue
		}
		f.Add([]byte(tc.doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, root := range []string{"xml", "root"} {
			got, took := parseFlatXML(doc, root)
			if !took {
				continue
			}
			want, err := decodeXML(doc, root)
			if err != nil || !maps.Equal(got, want) {
				t.Fatalf("%q: fast path read %v, the decoder %v (%v)", doc, got, want, err)
			}
		}
	})
}

func BenchmarkParseXML(b *testing.B) {
	doc := []byte(flatXMLDocs(b)["pay notification"])
	for _, bc := range []struct {
		name  string
		parse func([]byte, string) (map[string]string, error)
	}{
		{"flat", parseXML},
		{"decoder", decodeXML},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.parse(doc, "xml"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
