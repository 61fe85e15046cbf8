package providers

import "strings"

// The one policy for a provider status word an adapter does not know: it
// is never guessed into a state. The adapter reports StatusUnknown with the
// word in ProviderStatus; no transition accepts it, so the order or refund
// stays as it is, the gateway records the word and asks the provider again
// later. A word the provider adds tomorrow can therefore never close a paid
// order or fail a refund that went through.
const StatusUnknown = "UNKNOWN"

// OrderUnknown and RefundUnknown are StatusUnknown in each status type.
const (
	OrderUnknown  OrderStatus  = StatusUnknown
	RefundUnknown RefundStatus = StatusUnknown
)

// MapStatus looks a provider's status word up in an adapter's table and
// answers StatusUnknown for a word the table lacks. Adapters normalise the
// word (case, spaces) the way their provider needs before calling it.
func MapStatus[S OrderStatus | RefundStatus](table map[string]S, word string) S {
	if s, ok := table[word]; ok {
		return s
	}
	return S(StatusUnknown)
}

// Statuses is an adapter's table of its provider's status words, the
// one way adapters map them: through MapStatus, so a word the table
// lacks is StatusUnknown.
type Statuses[S OrderStatus | RefundStatus] struct {
	table map[string]S
	fold  func(string) string
}

// NewStatuses builds a table from the words that mean each status. fold,
// when set, normalises a word before it is looked up (and the table's
// words when built): FoldLower, FoldUpper. A word listed twice panics.
func NewStatuses[S OrderStatus | RefundStatus](fold func(string) string, words map[S][]string) Statuses[S] {
	if fold == nil {
		fold = func(s string) string { return s }
	}
	t := Statuses[S]{table: map[string]S{}, fold: fold}
	for status, list := range words {
		for _, w := range list {
			if _, dup := t.table[fold(w)]; dup {
				panic("providers: status word " + w + " listed twice")
			}
			t.table[fold(w)] = status
		}
	}
	return t
}

// Of maps a provider's word; an unknown word is StatusUnknown.
func (t Statuses[S]) Of(word string) S { return MapStatus(t.table, t.fold(word)) }

// FoldLower and FoldUpper normalise words for providers that vary their
// case or pad them with spaces.
func FoldLower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// FoldUpper: see FoldLower.
func FoldUpper(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// Unknown reports whether the state carries a status word the adapter
// does not know.
func (s OrderState) Unknown() bool { return s.Status == OrderUnknown }

// Unknown reports whether the state carries a status word the adapter
// does not know.
func (s RefundState) Unknown() bool { return s.Status == RefundUnknown }

// Clip bounds untrusted text an adapter quotes in an error or keeps as a
// word: at most n bytes, cut on a rune boundary. Errors are logged and
// stored; they never embed unbounded input.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
