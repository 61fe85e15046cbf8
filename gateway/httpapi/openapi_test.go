package httpapi

import (
	"encoding/json"
	"testing"
)

// The served reference must parse and name every route the API mounts.
func TestOpenAPIListsTheRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	want := map[string][]string{
		"/v1/orders":                                        {"post", "get"},
		"/v1/orders/{out_trade_no}":                         {"get"},
		"/v1/orders/{out_trade_no}/close":                   {"post"},
		"/v1/orders/{out_trade_no}/refunds":                 {"post", "get"},
		"/v1/orders/{out_trade_no}/refunds/{out_refund_no}": {"get"},
		"/v1/events":                                        {"get"},
		"/v1/events/{id}":                                   {"get"},
		"/v1/events/{id}/redeliver":                         {"post"},
		"/v1/reconciliations":                               {"post", "get"},
		"/v1/reconciliations/{id}":                          {"get"},
		"/v1/reconciliations/{id}/differences":              {"get"},
		"/v1/reconciliations/{id}/rejudge":                  {"post"},
		"/notify/{channel}":                                 {"post"},
	}
	for path, methods := range want {
		for _, m := range methods {
			if _, ok := doc.Paths[path][m]; !ok {
				t.Errorf("openapi.json lacks %s %s", m, path)
			}
		}
	}
}
