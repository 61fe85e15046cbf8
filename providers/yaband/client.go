package yaband

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/httpx"
)

// envelope is the request body shared by every method.
type envelope struct {
	User   string            `json:"user"`
	Sign   string            `json:"sign"`
	Method string            `json:"method"`
	Time   int64             `json:"time"` // a JSON number of Unix seconds
	Data   map[string]string `json:"data"`
}

// answer is Yaband's response envelope: {status, code, data, message}.
type answer struct {
	Status  any             `json:"status"`
	Code    any             `json:"code"` // "200" in the docs; some integrations see 200
	Data    json.RawMessage `json:"data"`
	Message string          `json:"message"`
}

func (a answer) ok() bool {
	switch s := a.Status.(type) {
	case bool:
		return s
	case string:
		return strings.EqualFold(s, "true")
	}
	return false
}

func (a answer) code() string {
	switch c := a.Code.(type) {
	case string:
		return c
	case json.Number:
		return c.String()
	case nil:
		return ""
	default:
		return fmt.Sprint(c)
	}
}

// call signs and sends one method and returns the answer's data. Empty
// data values are dropped (the SDK would sign them as "k="; Yaband's
// optional fields are simply left out).
func (p *Adapter) call(ctx context.Context, method string, data map[string]string) (json.RawMessage, error) {
	return p.callAs(ctx, p.user, p.secret, method, data)
}

// callAs is call with another account's credentials (the super-admin
// account that reads clearing reports).
func (p *Adapter) callAs(ctx context.Context, user, secret, method string, data map[string]string) (json.RawMessage, error) {
	clean := make(map[string]string, len(data))
	for k, v := range data {
		if v != "" {
			clean[k] = v
		}
	}
	unix := p.now().Unix()
	env := envelope{
		User:   user,
		Method: method,
		Time:   unix,
		Data:   clean,
		Sign:   Sign(secret, requestSignFields(user, method, unix, clean)),
	}
	resp, err := p.http.PostJSON(ctx, PaymentsPath, env)
	if err != nil {
		return nil, err
	}
	var a answer
	if err := httpx.DecodeJSON(resp.Body(), &a); err != nil || a.Status == nil {
		return nil, &providers.Error{Code: providers.ErrCodeBadResponse,
			Message: fmt.Sprintf("yaband %s: HTTP %d with an unparsable answer", method, resp.StatusCode())}
	}
	if !a.ok() {
		msg := providers.FirstNonEmpty(strings.TrimSpace(a.Message), "status false without a message")
		return nil, &providers.Error{Code: classifyFailure(method, msg), ProviderCode: a.code(),
			Message: "yaband " + method + ": " + msg}
	}
	if len(bytes.TrimSpace(a.Data)) == 0 || string(bytes.TrimSpace(a.Data)) == "null" {
		return nil, &providers.Error{Code: providers.ErrCodeBadResponse, Message: "yaband " + method + ": status true without data"}
	}
	return a.Data, nil
}

// decodeObject decodes a JSON object keeping numbers literal. A JSON
// string holding an object is accepted too (some Yaband answers nest JSON
// as a string).
func decodeObject(raw json.RawMessage) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		raw = []byte(s)
	}
	var m map[string]any
	if err := httpx.DecodeJSON(raw, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// str reads a scalar field as a string ("" when absent or null; the
// literal text "null", which Yaband's examples show for unset fields, is
// treated as absent too).
func str(m map[string]any, key string) string {
	s, err := scalarString(m[key])
	if err != nil || s == "null" {
		return ""
	}
	return strings.TrimSpace(s)
}
