package providers

import (
	"fmt"
	"sort"
	"strings"
)

// Params are a channel's provider-specific settings from config; values are
// strings or lists of strings, with ${VAR} already expanded.
type Params map[string]any

// String returns the string value of key, or "".
func (p Params) String(key string) string {
	switch v := p[key].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// Strings returns a list value (a single string counts as a list of one).
func (p Params) Strings(key string) []string {
	switch v := p[key].(type) {
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
		return out
	case string:
		if v == "" {
			return nil
		}
		return []string{v}
	default:
		return nil
	}
}

// Require returns an error naming every key in keys that is missing or empty.
func (p Params) Require(keys ...string) error {
	var missing []string
	for _, k := range keys {
		if strings.TrimSpace(p.String(k)) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("params.%s is required", strings.Join(missing, ", params."))
	}
	return nil
}
