package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-resty/resty/v2"
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

// PayParams turns the wx.requestPayment object of a provider's answer
// (decoded with DecodeJSON) into string values: strings as they are,
// numbers as written (timeStamp may come as a number), booleans as
// true/false, anything nested as its JSON; nulls are left out. An object
// with nothing in it is an error.
func PayParams(m map[string]any) (map[string]string, error) {
	out := make(map[string]string, len(m))
	for k, val := range m {
		switch x := val.(type) {
		case nil:
		case string:
			out[k] = x
		case json.Number:
			out[k] = x.String()
		case bool:
			out[k] = strconv.FormatBool(x)
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return nil, err
			}
			out[k] = string(b)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("empty object")
	}
	return out, nil
}

// PostJSON sends v, encoded by EncodeJSON, to path through the breaker
// (Do) and returns the answer.
func (c *Client) PostJSON(ctx context.Context, path string, v any) (*resty.Response, error) {
	body, err := EncodeJSON(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s request: %w", path, err)
	}
	return c.Do(func() (*resty.Response, error) {
		return c.R(ctx).SetHeader("Content-Type", "application/json").SetHeader("Accept", "application/json").
			SetBody(body).Post(path)
	})
}
