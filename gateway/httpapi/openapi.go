package httpapi

import _ "embed"

// OpenAPI is the API reference served at /openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte
