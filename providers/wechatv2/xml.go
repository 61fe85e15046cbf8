package wechatv2

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// MaxBodyBytes caps every XML body the adapter reads (responses and
// notifications). WeChat's largest v2 answer here is a refund query with
// up to 50 refunds, a few tens of KB.
const MaxBodyBytes = 256 << 10

var errXML = errors.New("wechat v2 xml")

// parseXML reads a flat WeChat v2 document: one root element named root
// whose children are leaf elements holding text or CDATA. It refuses
// DTDs/DOCTYPE (so no entity can be declared), unknown entities,
// processing instructions other than the XML declaration, namespaces,
// nested elements, duplicate elements, text directly in the root, content
// after the root and bodies over MaxBodyBytes.
func parseXML(body []byte, root string) (map[string]string, error) {
	if len(body) > MaxBodyBytes {
		return nil, fmt.Errorf("%w: body of %d bytes exceeds %d", errXML, len(body), MaxBodyBytes)
	}
	if fields, ok := parseFlatXML(body, root); ok {
		return fields, nil
	}
	return decodeXML(body, root)
}

// decodeXML is parseXML with encoding/xml's tokenizer, for any document.
func decodeXML(body []byte, root string) (map[string]string, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	// No Entity map and no CharsetReader: only the five predefined
	// entities and character references are accepted, only UTF-8.
	out := map[string]string{}
	depth := 0
	seenRoot, closedRoot := false, false
	var field string
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			// encoding/xml quotes the offending text (an entity name, a
			// tag) whole: cut it, errors are logged and stored.
			return nil, fmt.Errorf("%w: %s", errXML, clip(err.Error(), 160))
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, fmt.Errorf("%w: DTD/DOCTYPE or other directive refused", errXML)
		case xml.ProcInst:
			if t.Target != "xml" || seenRoot {
				return nil, fmt.Errorf("%w: processing instruction %q refused", errXML, clip(t.Target, 64))
			}
		case xml.Comment:
			// ignored
		case xml.StartElement:
			if t.Name.Space != "" {
				return nil, fmt.Errorf("%w: namespaced element %q refused", errXML, clip(t.Name.Local, 64))
			}
			switch depth {
			case 0:
				if closedRoot || seenRoot {
					return nil, fmt.Errorf("%w: content after the root element", errXML)
				}
				if t.Name.Local != root {
					return nil, fmt.Errorf("%w: root element <%s>, want <%s>", errXML, clip(t.Name.Local, 64), root)
				}
				seenRoot = true
			case 1:
				if _, dup := out[t.Name.Local]; dup {
					return nil, fmt.Errorf("%w: duplicate element <%s>", errXML, clip(t.Name.Local, 64))
				}
				field = t.Name.Local
				text.Reset()
			default:
				return nil, fmt.Errorf("%w: nested element <%s> in <%s>", errXML, clip(t.Name.Local, 64), clip(field, 64))
			}
			depth++
		case xml.EndElement:
			depth--
			switch depth {
			case 0:
				closedRoot = true
			case 1:
				out[field] = text.String()
				field = ""
			}
		case xml.CharData:
			switch depth {
			case 2:
				text.Write(t)
			default:
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, fmt.Errorf("%w: text outside a field element", errXML)
				}
			}
		}
	}
	if !closedRoot {
		return nil, fmt.Errorf("%w: no complete <%s> document", errXML, root)
	}
	return out, nil
}

// encodeXML writes fields as a WeChat v2 request: <xml> with one element
// per non-empty field in key order, every value in CDATA.
func encodeXML(fields map[string]string) []byte {
	keys := make([]string, 0, len(fields))
	for k, v := range fields {
		if v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString("<xml>")
	for _, k := range keys {
		b.WriteString("<" + k + ">")
		writeCDATA(&b, fields[k])
		b.WriteString("</" + k + ">")
	}
	b.WriteString("</xml>")
	return b.Bytes()
}

// writeCDATA writes s as CDATA, splitting any "]]>" it contains.
func writeCDATA(b *bytes.Buffer, s string) {
	b.WriteString("<![CDATA[")
	b.WriteString(strings.ReplaceAll(s, "]]>", "]]]]><![CDATA[>"))
	b.WriteString("]]>")
}
