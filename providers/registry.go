package providers

import (
	"fmt"
	"sort"
	"sync"
)

// Factory builds a Provider bound to one channel. It validates the
// channel's params and loads its keys, so a bad channel fails at start-up.
type Factory func(ch Channel, deps Deps) (Provider, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a provider kind available. Adapter packages call it from
// init; providers/all imports every adapter.
func Register(kind string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[kind]; dup {
		panic("providers: Register called twice for " + kind)
	}
	registry[kind] = f
}

// New builds the Provider for a channel.
func New(ch Channel, deps Deps) (Provider, error) {
	registryMu.RLock()
	f, ok := registry[ch.Kind]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("channel %s: unknown provider %q (known: %v)", ch.ID, ch.Kind, Kinds())
	}
	p, err := f(ch, deps)
	if err != nil {
		return nil, fmt.Errorf("channel %s (%s): %w", ch.ID, ch.Kind, err)
	}
	return p, nil
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
