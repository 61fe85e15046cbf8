package providers

import (
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// FuzzParseAmount: whatever a merchant sends as amount, the API parser
// answers quickly with a short error, or with Money that is positive,
// within MaxMinor, and prints back as the same decimal.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"12.34", "0.01", "1", "1.1", "1.100", "999999999.99", "1e3", "+1", " 1.00", "-0", "0", ".5", "1.", "1,00", "0012", "１２"} {
		for _, c := range []string{"CNY", "JPY", "KWD", "EUR"} {
			f.Add(s, c)
		}
	}
	f.Fuzz(func(t *testing.T, amount, currency string) {
		m, err := ParseAmount(amount, currency)
		if err != nil {
			if len(err.Error()) > 200 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		if m.Minor <= 0 || m.Minor > MaxMinor || m.Currency != currency {
			t.Fatalf("ParseAmount(%q, %q) = %+v", amount, currency, m)
		}
		// Exactly the decimal given, never rounded.
		if !decimal.RequireFromString(amount).Equal(m.Decimal()) {
			t.Fatalf("ParseAmount(%q) = %s", amount, m)
		}
	})
}

// FuzzParseProviderAmount: a provider's amount is digits and one point,
// bounded; anything else is a short error, and what parses converts
// exactly.
func FuzzParseProviderAmount(f *testing.F) {
	for _, s := range []string{"24.9", "25", "24.90", "0.10", "0", "24.905", "-1", "abc", "1e3", "1E3", "+1", " 1.00", "1e9999999", "0x10", "NaN", "１", "12.", ".5"} {
		f.Add(s, "EUR")
	}
	f.Add("100", "JPY")
	f.Add("1.234", "KWD")
	f.Fuzz(func(t *testing.T, amount, currency string) {
		m, err := ParseProviderAmount(amount, currency)
		if err != nil {
			if len(err.Error()) > 200 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		if len(amount) > maxAmountText || strings.Trim(amount, "0123456789.") != "" || strings.Count(amount, ".") > 1 {
			t.Fatalf("ParseProviderAmount accepted %q", amount)
		}
		if m.Minor < 0 || m.Minor > MaxMinor || m.Currency != currency {
			t.Fatalf("ParseProviderAmount(%q, %q) = %+v", amount, currency, m)
		}
		back, err := ParseProviderAmount(m.String(), currency)
		if err != nil || back != m {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", amount, m, m.String(), back, err)
		}
	})
}
