package providers

import (
	"fmt"
	"strings"
	"testing"
)

type testParams struct {
	AppID  string   `param:"appid,required"`
	Key    Secret   `param:"key,required"`
	SubApp string   `param:"sub_appid"`
	Files  []string `param:"files"`
}

func TestDecodeParams(t *testing.T) {
	tests := []struct {
		name string
		raw  Params
		want testParams
		errs []string // every error must name these
	}{
		{"all there, trimmed, numbers as written", Params{"appid": " wx1 ", "key": " k ", "files": []any{"a", " b ", 7}},
			testParams{AppID: "wx1", Key: " k ", Files: []string{"a", "b", "7"}}, nil},
		{"one file as a string", Params{"appid": 10000100, "key": "k", "files": "a"}, testParams{AppID: "10000100", Key: "k", Files: []string{"a"}}, nil},
		{"simulator params passed over", Params{"appid": "wx1", "key": "k", "sandbox_sign_with": "x"}, testParams{AppID: "wx1", Key: "k"}, nil},
		{"misspelt key", Params{"appid": "wx1", "key": "k", "sub_app_id": "wx2"}, testParams{},
			[]string{"params.sub_app_id: unknown param (did you mean sub_appid?)"}},
		{"unknown key", Params{"appid": "wx1", "key": "k", "colour": "blue"}, testParams{},
			[]string{"params.colour: unknown param (known: appid, files, key, sub_appid)"}},
		{"missing and blank", Params{"key": "  "}, testParams{},
			[]string{"params.appid: is required", "params.key: is required"}},
		{"a map where a value goes", Params{"appid": map[string]any{"a": 1}, "key": "k"}, testParams{},
			[]string{"params.appid: must be a single value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got testParams
			err := DecodeParams(tt.raw, &got)
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) || got.Key.Reveal() != tt.want.Key.Reveal() {
					t.Fatalf("got %+v, want %+v", got, tt.want)
				}
				return
			}
			if _, ok := err.(ParamErrors); !ok {
				t.Fatalf("err = %v (%T), want ParamErrors", err, err)
			}
			for _, w := range tt.errs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	p := testParams{Key: "s3cr3t-value"}
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%v %+v %#v %s", p, p, p, p.Key)} {
		if strings.Contains(s, "s3cr3t") {
			t.Fatalf("secret printed: %s", s)
		}
	}
}

func TestStatusesOf(t *testing.T) {
	st := NewStatuses(FoldLower, map[OrderStatus][]string{OrderPaid: {"Paid"}, OrderPaying: {"new"}})
	for word, want := range map[string]OrderStatus{" PAID ": OrderPaid, "new": OrderPaying, "refunded-tomorrow": OrderUnknown, "": OrderUnknown} {
		if got := st.Of(word); got != want {
			t.Errorf("Of(%q) = %s, want %s", word, got, want)
		}
	}
}
