package httpx

import (
	"bytes"
	"encoding/json"
)

// EncodeJSON marshals v as providers sign it: no HTML escaping (a
// notify_url's & stays &) and no trailing newline.
func EncodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// DecodeJSON unmarshals raw into v keeping numbers as json.Number, so an
// amount or a signed value is read exactly as sent, never as a float.
func DecodeJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}
