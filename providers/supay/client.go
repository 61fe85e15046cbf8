package supay

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/httpx"
)

// answer is Supay's response: {status:"T"|..., message, data:{...}}.
type answer struct {
	Status  string          `json:"status"`
	Code    any             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// call signs and sends one service. Empty values are left out of the body
// (and so out of the signature).
func (p *Adapter) call(ctx context.Context, service string, fields map[string]string) (map[string]any, error) {
	params := map[string]string{
		"service":   service,
		"mch_id":    p.mchID,
		"charset":   Charset,
		"version":   Version,
		"sign_type": SignTypeMD5,
	}
	for k, v := range fields {
		if v != "" {
			params[k] = v
		}
	}
	params["sign"] = Sign(params, p.key)
	resp, err := p.http.PostJSON(ctx, GatewayPath, params)
	if err != nil {
		return nil, err
	}
	var a answer
	if err := httpx.DecodeJSON(resp.Body(), &a); err != nil || a.Status == "" {
		return nil, providers.BadResponse("supay %s: HTTP %d with an unparsable answer", service, resp.StatusCode())
	}
	if !strings.EqualFold(a.Status, statusOK) {
		msg := providers.FirstNonEmpty(strings.TrimSpace(a.Message), "status "+a.Status+" without a message")
		code := a.Status
		if c := scalar(a.Code); c != "" {
			code = c
		}
		return nil, &providers.Error{Code: classifyFailure(service, msg), ProviderCode: code, Message: "supay " + service + ": " + msg}
	}
	data := map[string]any{}
	if raw := bytes.TrimSpace(a.Data); len(raw) > 0 && string(raw) != "null" {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&data); err != nil {
			return nil, providers.BadResponse("supay %s: data is not an object", service)
		}
	}
	// data.result == false is a refusal even under status T.
	if r, present := data["result"]; present && !truthy(r) {
		msg := providers.FirstNonEmpty(strings.TrimSpace(a.Message), "data.result is false")
		return nil, &providers.Error{Code: classifyFailure(service, msg), ProviderCode: a.Status, Message: "supay " + service + ": " + msg}
	}
	return data, nil
}

func truthy(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return strings.EqualFold(t, "true") || t == "1" || strings.EqualFold(t, "T")
	case json.Number:
		return t.String() == "1"
	}
	return false
}

// scalar renders a decoded JSON scalar as text ("" for null, objects, arrays).
func scalar(v any) string {
	switch t := v.(type) {
	case string:
		return strings.TrimSpace(t)
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	}
	return ""
}
