package wechatv2sim

// The simulator's own implementation of the v2 wire format, written from
// wechatpay.md §3 and §5.2 apart from the adapter's (never import it): a
// shared mistake must not pass the tests.

import (
	"bytes"
	"crypto/aes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash"
	"sort"
	"strings"
)

// kv is one field of a v2 document.
type kv struct{ k, v string }

// Signature computes a v2 sign: sort the non-empty fields other than
// "sign" by name, write name=value joined by '&', append "&key=" + key,
// then upper-hex MD5 of that, or upper-hex HMAC-SHA256 keyed with key.
func Signature(doc map[string]string, key, signType string) (string, error) {
	var pairs []kv
	for k, v := range doc {
		if k != "sign" && v != "" {
			pairs = append(pairs, kv{k, v})
		}
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].k < pairs[j].k })
	parts := make([]string, 0, len(pairs)+1)
	for _, p := range pairs {
		parts = append(parts, p.k+"="+p.v)
	}
	parts = append(parts, "key="+key)
	msg := []byte(strings.Join(parts, "&"))
	var h hash.Hash
	switch signType {
	case "", "MD5":
		h = md5.New()
	case "HMAC-SHA256":
		h = hmac.New(sha256.New, []byte(key))
	default:
		return "", fmt.Errorf("sign_type %q", signType)
	}
	h.Write(msg)
	return fmt.Sprintf("%X", h.Sum(nil)), nil
}

// checkSignature reports whether doc["sign"] is right for the type the
// document names (MD5 when it names none).
func checkSignature(doc map[string]string, key string) bool {
	want, err := Signature(doc, key, doc["sign_type"])
	return err == nil && hmac.Equal([]byte(want), []byte(doc["sign"]))
}

// readDoc parses a flat <xml> request with encoding/xml's Unmarshal; it
// refuses duplicate and nested elements and DOCTYPE.
func readDoc(body []byte) (map[string]string, error) {
	if bytes.Contains(bytes.ReplaceAll(body, []byte("<![CDATA["), nil), []byte("<!")) {
		return nil, fmt.Errorf("DOCTYPE/directive refused")
	}
	var doc struct {
		XMLName xml.Name
		Fields  []struct {
			XMLName  xml.Name
			Text     string `xml:",chardata"`
			Children []struct {
				XMLName xml.Name
			} `xml:",any"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	if doc.XMLName.Local != "xml" {
		return nil, fmt.Errorf("root <%s>", doc.XMLName.Local)
	}
	out := make(map[string]string, len(doc.Fields))
	for _, f := range doc.Fields {
		name := f.XMLName.Local
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("duplicate <%s>", name)
		}
		if len(f.Children) > 0 {
			return nil, fmt.Errorf("nested element in <%s>", name)
		}
		out[name] = f.Text
	}
	return out, nil
}

// writeDoc renders fields as <root>...</root>, one line per field, values
// in CDATA except pure numbers (as WeChat writes amounts).
func writeDoc(root string, fields map[string]string, newlines bool) []byte {
	names := make([]string, 0, len(fields))
	for k, v := range fields {
		if v != "" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	nl := ""
	if newlines {
		nl = "\n"
	}
	var b bytes.Buffer
	b.WriteString("<" + root + ">" + nl)
	for _, k := range names {
		v := fields[k]
		if isDigits(v) && !newlines {
			fmt.Fprintf(&b, "<%s>%s</%s>%s", k, v, k, nl)
			continue
		}
		fmt.Fprintf(&b, "<%s><![CDATA[%s]]></%s>%s", k, strings.ReplaceAll(v, "]]>", "]]]]><![CDATA[>"), k, nl)
	}
	b.WriteString("</" + root + ">")
	return b.Bytes()
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// EncryptReqInfo encrypts a refund notification's plaintext as WeChat
// does: AES-256-ECB with the 32 hex characters of md5(APIv2 key) as the
// key, PKCS#7 padding, standard base64.
func EncryptReqInfo(plain []byte, apiKey string) (string, error) {
	d := md5.Sum([]byte(apiKey))
	key := []byte(hex.EncodeToString(d[:]))
	c, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	padLen := aes.BlockSize - len(plain)%aes.BlockSize
	buf := append(append([]byte{}, plain...), bytes.Repeat([]byte{byte(padLen)}, padLen)...)
	for off := 0; off < len(buf); off += aes.BlockSize {
		c.Encrypt(buf[off:off+aes.BlockSize], buf[off:off+aes.BlockSize])
	}
	return base64.StdEncoding.EncodeToString(buf), nil
}
