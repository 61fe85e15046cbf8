package providers

import (
	"errors"
	"testing"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		amount, currency string
		want             int64
		err              error
	}{
		{"12.34", "CNY", 1234, nil},
		{"0.01", "CNY", 1, nil},
		{"12", "CNY", 1200, nil},
		{"12.3", "EUR", 1230, nil},
		{"1000", "JPY", 1000, nil},
		{"1.234", "KWD", 1234, nil},
		{"1000000000.00", "CNY", 100_000_000_000, nil},
		{"1.001", "CNY", 0, ErrBadAmount},
		{"1.100", "CNY", 0, ErrBadAmount},
		{"1.5", "JPY", 0, ErrBadAmount},
		{"0", "CNY", 0, ErrBadAmount},
		{"0.00", "CNY", 0, ErrBadAmount},
		{"-1.00", "CNY", 0, ErrBadAmount},
		{"+1.00", "CNY", 0, ErrBadAmount},
		{"1e3", "CNY", 0, ErrBadAmount},
		{"01.00", "CNY", 0, ErrBadAmount},
		{".5", "CNY", 0, ErrBadAmount},
		{"1.", "CNY", 0, ErrBadAmount},
		{" 1.00", "CNY", 0, ErrBadAmount},
		{"1,00", "CNY", 0, ErrBadAmount},
		{"1000000000.01", "CNY", 0, ErrBadAmount},
		{"99999999999999999999999999999", "CNY", 0, ErrBadAmount},
		{"NaN", "CNY", 0, ErrBadAmount},
		{"1.00", "XXX", 0, ErrUnknownCurrency},
		{"1.00", "cny", 0, ErrUnknownCurrency},
	}
	for _, tt := range tests {
		got, err := ParseAmount(tt.amount, tt.currency)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("ParseAmount(%q, %q) error = %v, want %v", tt.amount, tt.currency, err, tt.err)
			}
			continue
		}
		if err != nil || got.Minor != tt.want || got.Currency != tt.currency {
			t.Errorf("ParseAmount(%q, %q) = %+v, %v; want %d", tt.amount, tt.currency, got, err, tt.want)
		}
	}
}

func TestParseProviderAmount(t *testing.T) {
	tests := []struct {
		amount, currency string
		want             int64
		ok               bool
	}{
		{"24.9", "EUR", 2490, true},
		{"25", "EUR", 2500, true},
		{"24.90", "EUR", 2490, true},
		{"0.10", "EUR", 10, true},
		{"24.905", "EUR", 0, false},
		{"-1", "EUR", 0, false},
		{"abc", "EUR", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseProviderAmount(tt.amount, tt.currency)
		if (err == nil) != tt.ok || got.Minor != tt.want {
			t.Errorf("ParseProviderAmount(%q) = %d, %v; want %d ok=%v", tt.amount, got.Minor, err, tt.want, tt.ok)
		}
	}
}

func TestMoneyString(t *testing.T) {
	tests := []struct {
		m    Money
		want string
	}{
		{Money{1234, "CNY"}, "12.34"},
		{Money{1, "CNY"}, "0.01"},
		{Money{1230, "EUR"}, "12.30"},
		{Money{500, "JPY"}, "500"},
		{Money{1234, "KWD"}, "1.234"},
		{Money{0, "USD"}, "0.00"},
	}
	for _, tt := range tests {
		if got := tt.m.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.m, got, tt.want)
		}
	}
}
