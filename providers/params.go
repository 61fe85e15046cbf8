package providers

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Params are a channel's provider-specific settings as configured: values
// are strings or lists of strings (numbers and booleans as YAML wrote
// them), with ${VAR} already expanded. Adapters read them through their
// own params struct (DecodeParams); simulators read the map.
type Params map[string]any

// SandboxParamPrefix starts the params only a sandbox simulator reads
// (sandbox_refund_delay_ms, ...): adapters pass over them.
const SandboxParamPrefix = "sandbox_"

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

// Secret is a param that must never be shown: it prints as [redacted].
// An adapter's params struct declares its keys and passwords with it.
type Secret string

// String implements fmt.Stringer: a secret printed by mistake shows nothing.
func (Secret) String() string { return "[redacted]" }

// GoString implements fmt.GoStringer (%#v).
func (Secret) GoString() string { return `"[redacted]"` }

// MarshalText keeps a secret out of JSON and YAML output.
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Reveal returns the secret's value, for signing.
func (s Secret) Reveal() string { return string(s) }

// ParamError is one bad param of a channel: its key and what is wrong.
type ParamError struct {
	Key     string
	Problem string
}

func (e ParamError) Error() string { return "params." + e.Key + ": " + e.Problem }

// ParamErrors are every bad param of a channel, in key order.
type ParamErrors []ParamError

func (e ParamErrors) Error() string {
	msgs := make([]string, len(e))
	for i, pe := range e {
		msgs[i] = pe.Error()
	}
	return strings.Join(msgs, "; ")
}

// DecodeParams fills dst, a pointer to an adapter's params struct, from
// raw. Each field names its key in a `param` tag, with ",required" when
// the channel must set it: `param:"mch_id,required"`. Fields are string,
// Secret or []string; string values are trimmed, secrets kept as given.
// A key the struct does not declare (a misspelling) is an error naming
// it, as is a missing required key or a value of the wrong shape; keys
// starting with SandboxParamPrefix are the simulator's and passed over.
func DecodeParams(raw Params, dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("providers.DecodeParams: %T is not a pointer to a struct", dst))
	}
	fields := paramFields(v.Elem().Type())
	var errs ParamErrors
	for key, val := range raw {
		if strings.HasPrefix(key, SandboxParamPrefix) {
			continue
		}
		f, ok := fields[key]
		if !ok {
			errs = append(errs, ParamError{key, unknownParam(key, fields)})
			continue
		}
		if err := setParam(v.Elem().Field(f.index), val); err != nil {
			errs = append(errs, ParamError{key, err.Error()})
		}
	}
	for key, f := range fields {
		if fv := v.Elem().Field(f.index); f.required && (fv.Len() == 0 || fv.Kind() == reflect.String && strings.TrimSpace(fv.String()) == "") {
			errs = append(errs, ParamError{key, "is required"})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Key < errs[j].Key })
	return errs
}

type paramField struct {
	index    int
	required bool
}

func paramFields(t reflect.Type) map[string]paramField {
	out := map[string]paramField{}
	for i := 0; i < t.NumField(); i++ {
		tag, ok := t.Field(i).Tag.Lookup("param")
		if !ok {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		out[name] = paramField{index: i, required: opts == "required"}
	}
	return out
}

var (
	secretType  = reflect.TypeOf(Secret(""))
	stringsType = reflect.TypeOf([]string(nil))
)

func setParam(f reflect.Value, val any) error {
	switch f.Type() {
	case secretType:
		s, err := scalarParam(val)
		if err != nil {
			return err
		}
		f.SetString(s)
	case stringsType:
		list, err := listParam(val)
		if err != nil {
			return err
		}
		f.Set(reflect.ValueOf(list))
	default:
		s, err := scalarParam(val)
		if err != nil {
			return err
		}
		f.SetString(strings.TrimSpace(s))
	}
	return nil
}

func scalarParam(val any) (string, error) {
	switch v := val.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case []any, []string, map[string]any:
		return "", fmt.Errorf("must be a single value, not a list or a map")
	default:
		return fmt.Sprint(v), nil
	}
}

func listParam(val any) ([]string, error) {
	switch v := val.(type) {
	case nil:
		return nil, nil
	case []string:
		return v, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, err := scalarParam(e)
			if err != nil {
				return nil, fmt.Errorf("must be a list of single values")
			}
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	case map[string]any:
		return nil, fmt.Errorf("must be a list, not a map")
	default:
		s, _ := scalarParam(v)
		if s = strings.TrimSpace(s); s == "" {
			return nil, nil
		}
		return []string{s}, nil
	}
}

// unknownParam says a key is not the adapter's, suggesting the key it
// was probably meant to be (sub_app_id for sub_appid, and so on).
func unknownParam(key string, fields map[string]paramField) string {
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	sort.Strings(known)
	fold := func(s string) string { return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s)) }
	for _, k := range known {
		if fold(k) == fold(key) {
			return fmt.Sprintf("unknown param (did you mean %s?)", k)
		}
	}
	return fmt.Sprintf("unknown param (known: %s)", strings.Join(known, ", "))
}
