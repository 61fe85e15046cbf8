package wechatv2

import (
	"bytes"
	"unicode/utf8"
)

// parseFlatXML reads the documents WeChat actually sends, <root> and its
// leaf elements holding plain text or CDATA with nothing else between
// them, in one pass over the bytes. encoding/xml's tokenizer took a tenth
// of the gateway's CPU under a notification load (pprof), most of it
// allocating tokens this format never needs.
//
// It reads a narrow grammar and gives up (ok false) at the first byte
// outside it, leaving the document to parseXML's decoder, which accepts
// or refuses it with a reason: an XML declaration, a comment, an entity
// or character reference, an empty-element tag, attributes or spaces in
// a tag, a carriage return, a name that is not [A-Za-z_][A-Za-z0-9_]*, a
// repeated element, a character XML does not allow, invalid UTF-8. So
// whatever it accepts, the decoder accepts with the same fields
// (FuzzParseFlatXMLAgreesWithDecoder).
func parseFlatXML(body []byte, root string) (fields map[string]string, ok bool) {
	p := flatXML{b: body}
	p.space()
	if !p.tag(false, root) {
		return nil, false
	}
	fields = make(map[string]string, 24)
	for {
		p.space()
		if p.lit("</") {
			p.i -= 2
			break
		}
		name, ok := p.open()
		if !ok {
			return nil, false
		}
		if _, dup := fields[name]; dup {
			return nil, false
		}
		value, ok := p.content()
		if !ok || !p.tag(true, name) {
			return nil, false
		}
		fields[name] = value
	}
	if !p.tag(true, root) {
		return nil, false
	}
	p.space()
	if p.i != len(p.b) {
		return nil, false
	}
	return fields, true
}

type flatXML struct {
	b []byte
	i int
}

func (p *flatXML) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n') {
		p.i++
	}
}

func (p *flatXML) lit(s string) bool {
	if bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		p.i += len(s)
		return true
	}
	return false
}

// tag reads <name> or </name>, exactly.
func (p *flatXML) tag(end bool, name string) bool {
	open := "<"
	if end {
		open = "</"
	}
	return p.lit(open) && p.lit(name) && p.lit(">")
}

// open reads a start tag <name> and returns the name.
func (p *flatXML) open() (string, bool) {
	if !p.lit("<") {
		return "", false
	}
	start := p.i
	for p.i < len(p.b) && isNameByte(p.b[p.i], p.i > start) {
		p.i++
	}
	if p.i == start || !p.lit(">") {
		return "", false
	}
	return string(p.b[start : p.i-1]), true
}

func isNameByte(c byte, notFirst bool) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || notFirst && '0' <= c && c <= '9'
}

// content reads text and CDATA sections up to the next end tag.
func (p *flatXML) content() (string, bool) {
	var joined []byte // only when the value comes in more than one piece
	var first []byte
	pieces := 0
	add := func(s []byte) {
		switch pieces {
		case 0:
			first = s
		case 1:
			joined = append(append(joined, first...), s...)
		default:
			joined = append(joined, s...)
		}
		pieces++
	}
	for {
		if p.lit("<![CDATA[") {
			end := bytes.Index(p.b[p.i:], []byte("]]>"))
			if end < 0 || !validChars(p.b[p.i:p.i+end]) {
				return "", false
			}
			add(p.b[p.i : p.i+end])
			p.i += end + 3
			continue
		}
		start := p.i
		for p.i < len(p.b) && p.b[p.i] != '<' {
			if c := p.b[p.i]; c == '&' || c == '\r' {
				return "", false
			}
			p.i++
		}
		text := p.b[start:p.i]
		if p.i == len(p.b) || !validChars(text) || bytes.Contains(text, []byte("]]>")) {
			return "", false
		}
		if len(text) > 0 {
			add(text)
		}
		if bytes.HasPrefix(p.b[p.i:], []byte("</")) {
			break
		}
		if !bytes.HasPrefix(p.b[p.i:], []byte("<![CDATA[")) {
			return "", false
		}
	}
	switch pieces {
	case 0:
		return "", true
	case 1:
		return string(first), true
	}
	return string(joined), true
}

// validChars: valid UTF-8 of characters XML allows, carriage returns
// aside (the decoder turns them into line feeds).
func validChars(s []byte) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n == 1 || r > 0xD7FF && r < 0xE000 || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += n
	}
	return true
}
