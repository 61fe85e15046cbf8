package providers

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/shopspring/decimal"
)

// Money is an amount in integer minor units of an ISO-4217 currency.
// It never passes through float64.
type Money struct {
	Minor    int64  `json:"minor"`
	Currency string `json:"currency"`
}

// MaxMinor bounds every amount the gateway accepts: 10^11 minor units
// (one billion in a two-decimal currency). Larger values are refused, not clamped.
const MaxMinor int64 = 100_000_000_000

// currencyExponent lists active ISO-4217 codes whose minor unit is not 2.
var currencyExponent = map[string]int32{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

// twoDecimalCurrencies lists the active ISO-4217 codes with a minor unit of 2.
const twoDecimalCurrencies = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL " +
	"BSD BTN BWP BYN BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP " +
	"GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK " +
	"LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR " +
	"NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN " +
	"SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWG"

func init() {
	for _, c := range strings.Fields(twoDecimalCurrencies) {
		currencyExponent[c] = 2
	}
}

var (
	ErrUnknownCurrency = errors.New("unknown ISO-4217 currency")
	ErrBadAmount       = errors.New("invalid amount")
)

// CurrencyExponent returns the number of decimals of an ISO-4217 currency.
func CurrencyExponent(currency string) (int32, error) {
	exp, ok := currencyExponent[currency]
	if !ok {
		return 0, fmt.Errorf("%w: %s", ErrUnknownCurrency, clipText(currency))
	}
	return exp, nil
}

// KnownCurrency reports whether code is an active ISO-4217 code (upper case).
func KnownCurrency(code string) bool {
	_, ok := currencyExponent[code]
	return ok
}

var plainDecimal = regexp.MustCompile(`^(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// maxAmountText bounds the text of an amount (API or provider) before it
// is parsed: MaxMinor has 12 digits, so anything longer is refused at
// once and never reaches the decimal parser or an error message whole.
const maxAmountText = 24

// clipText is how an amount (or a currency) appears in an error: at most maxAmountText
// characters, so a hostile value never makes an unbounded message.
func clipText(s string) string {
	if len(s) > maxAmountText {
		return fmt.Sprintf("%q… (%d bytes)", s[:maxAmountText], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// ParseAmount parses an API amount: a plain decimal string in major units
// ("12.34"), no sign, no exponent, positive, at most the currency's decimals
// (trailing zeros count: "1.100" CNY is refused), and at most MaxMinor.
func ParseAmount(amount, currency string) (Money, error) {
	exp, err := CurrencyExponent(currency)
	if err != nil {
		return Money{}, err
	}
	if len(amount) > maxAmountText {
		return Money{}, fmt.Errorf("%w: %s is too long", ErrBadAmount, clipText(amount))
	}
	if !plainDecimal.MatchString(amount) {
		return Money{}, fmt.Errorf("%w: %s is not a plain positive decimal such as \"12.34\"", ErrBadAmount, clipText(amount))
	}
	if i := strings.IndexByte(amount, '.'); i >= 0 && int32(len(amount)-i-1) > exp {
		return Money{}, fmt.Errorf("%w: %s allows %d decimal(s), got %s", ErrBadAmount, currency, exp, clipText(amount))
	}
	m, err := FromDecimal(decimal.RequireFromString(amount), currency)
	if err != nil {
		return Money{}, err
	}
	if m.Minor <= 0 {
		return Money{}, fmt.Errorf("%w: must be greater than zero", ErrBadAmount)
	}
	return m, nil
}

// providerDecimal is what a provider amount may look like: digits and at
// most one point with digits on both sides. No sign, exponent, spaces,
// thousands separators or leading point.
var providerDecimal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// ParseProviderAmount parses a decimal amount in major units as a provider
// sends it ("24.9", "25", "24.90"): digits and one point, at most
// maxAmountText characters, converting exactly to minor units. Anything
// else ("1e3", "+1", " 1.00", "1,00") is refused: a provider answer that
// does not look like money is not believed.
func ParseProviderAmount(amount, currency string) (Money, error) {
	if len(amount) > maxAmountText || !providerDecimal.MatchString(amount) {
		return Money{}, fmt.Errorf("%w: provider amount %s is not digits with at most one decimal point", ErrBadAmount, clipText(amount))
	}
	d, err := decimal.NewFromString(amount)
	if err != nil {
		return Money{}, fmt.Errorf("%w: provider amount %s: %v", ErrBadAmount, clipText(amount), err)
	}
	return FromDecimal(d, currency)
}

// FromDecimal converts major units to Money, refusing values that need
// rounding, negative values and values above MaxMinor.
func FromDecimal(d decimal.Decimal, currency string) (Money, error) {
	exp, err := CurrencyExponent(currency)
	if err != nil {
		return Money{}, err
	}
	scaled := d.Shift(exp)
	if !scaled.Equal(scaled.Truncate(0)) {
		return Money{}, fmt.Errorf("%w: %s has more than %d decimal(s) for %s", ErrBadAmount, d.String(), exp, currency)
	}
	if scaled.IsNegative() {
		return Money{}, fmt.Errorf("%w: %s is negative", ErrBadAmount, d.String())
	}
	if scaled.GreaterThan(decimal.NewFromInt(MaxMinor)) {
		return Money{}, fmt.Errorf("%w: %s %s is above the maximum", ErrBadAmount, d.String(), currency)
	}
	return Money{Minor: scaled.IntPart(), Currency: currency}, nil
}

// Decimal returns the amount in major units.
func (m Money) Decimal() decimal.Decimal {
	exp, _ := CurrencyExponent(m.Currency)
	return decimal.New(m.Minor, -exp)
}

// String formats the amount in major units with exactly the currency's
// decimals ("12.30"), the form every API answer and CSV uses.
func (m Money) String() string {
	return FormatMinor(m.Minor, m.Currency)
}

// FormatMinor formats minor units of currency as a fixed-point decimal string.
func FormatMinor(minor int64, currency string) string {
	exp, err := CurrencyExponent(currency)
	if err != nil {
		exp = 2
	}
	return decimal.New(minor, -exp).StringFixed(exp)
}

// IsZero reports an unset amount.
func (m Money) IsZero() bool { return m.Minor == 0 && m.Currency == "" }
