package providers

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Factory builds a Provider bound to one channel. It validates the
// channel's params and loads its keys, so a bad channel fails at start-up.
type Factory func(ch Channel, deps Deps) (Provider, error)

// Spec is what an adapter package declares about its provider kind, and
// registers from init: its params struct P, the channel defaults the
// gateway applies, and how one channel's adapter A is built.
type Spec[P any, A Provider] struct {
	// Kind is the channel's `provider` word (wechat_v2, yaband, ...).
	Kind string
	// DefaultCurrency is a channel's currency when its config names none.
	DefaultCurrency string
	// Currencies, when set, are the only currencies a channel may be in.
	Currencies []string
	// BaseURL is the provider's production root, for a channel that
	// names none.
	BaseURL string
	// Build makes one channel's adapter. The channel's currency and base
	// URL are resolved (defaults applied, checked, no trailing slash) and
	// its params decoded strictly into P (DecodeParams).
	Build func(ch Channel, params P, deps Deps) (A, error)
}

// New resolves ch, decodes its params and builds its adapter: the
// Factory of the kind.
func (s Spec[P, A]) New(ch Channel, deps Deps) (Provider, error) {
	ch, params, err := s.resolve(ch)
	if err != nil {
		return nil, err
	}
	a, err := s.Build(ch, params, deps)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// resolve applies the kind's defaults to ch and decodes its params.
func (s Spec[P, A]) resolve(ch Channel) (Channel, P, error) {
	var params P
	if ch.Currency == "" {
		ch.Currency = s.DefaultCurrency
	}
	if !KnownCurrency(ch.Currency) {
		return ch, params, fmt.Errorf("currency %q is not an ISO-4217 code", clipCurrency(ch.Currency))
	}
	if len(s.Currencies) > 0 && !slices.Contains(s.Currencies, ch.Currency) {
		return ch, params, fmt.Errorf("currency %s: %s takes %s only", ch.Currency, s.Kind, strings.Join(s.Currencies, ", "))
	}
	if ch.BaseURL == "" {
		ch.BaseURL = s.BaseURL
	}
	ch.BaseURL = strings.TrimRight(ch.BaseURL, "/")
	if u, err := url.Parse(ch.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return ch, params, fmt.Errorf("base_url %q is not an http(s) root URL", ch.BaseURL)
	}
	if err := DecodeParams(ch.Params, &params); err != nil {
		return ch, params, err
	}
	return ch, params, nil
}

func clipCurrency(s string) string { return Clip(s, 8) }

// registered is a Spec without its params type.
type registered struct {
	defaultCurrency string
	check           func(Channel) error
	factory         Factory
}

var (
	registryMu sync.RWMutex
	registry   = map[string]registered{}
)

// Register makes a provider kind available. Adapter packages call it from
// init; providers/all imports every adapter.
func Register[P any, A Provider](s Spec[P, A]) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[s.Kind]; dup {
		panic("providers: Register called twice for " + s.Kind)
	}
	registry[s.Kind] = registered{
		defaultCurrency: s.DefaultCurrency,
		check: func(ch Channel) error {
			_, _, err := s.resolve(ch)
			return err
		},
		factory: s.New,
	}
}

func lookup(kind string) (registered, error) {
	registryMu.RLock()
	r, ok := registry[kind]
	registryMu.RUnlock()
	if !ok {
		return r, fmt.Errorf("unknown provider %q (known: %s)", Clip(kind, 32), strings.Join(Kinds(), ", "))
	}
	return r, nil
}

// New builds the Provider for a channel.
func New(ch Channel, deps Deps) (Provider, error) {
	r, err := lookup(ch.Kind)
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", ch.ID, err)
	}
	p, err := r.factory(ch, deps)
	if err != nil {
		return nil, fmt.Errorf("channel %s (%s): %w", ch.ID, ch.Kind, err)
	}
	return p, nil
}

// CheckChannel reports what New would refuse in a channel's kind,
// currency, base URL and params, without building the adapter (no key
// is loaded): the config checks every channel with it at start-up. A
// params error is ParamErrors, naming each bad key.
func CheckChannel(ch Channel) error {
	r, err := lookup(ch.Kind)
	if err != nil {
		return err
	}
	return r.check(ch)
}

// DefaultCurrency is a kind's currency for a channel that names none.
func DefaultCurrency(kind string) string {
	r, _ := lookup(kind)
	return r.defaultCurrency
}

// Kinds lists the registered provider kinds.
func Kinds() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
