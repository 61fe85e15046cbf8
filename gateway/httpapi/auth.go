package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/paygate/paygate/gateway/apierr"
	"github.com/paygate/paygate/gateway/config"
)

// Key is what an API key grants: one merchant, some scopes.
type Key struct {
	MerchantID string
	Scopes     map[string]bool
}

// Keys maps the SHA-256 of each API key to its grant; keys themselves are
// never kept.
type Keys map[string]Key

// KeysFromConfig hashes the configured keys.
func KeysFromConfig(merchants []config.Merchant) (Keys, error) {
	keys := Keys{}
	for _, m := range merchants {
		for _, k := range m.APIKeys {
			h, err := k.Hash()
			if err != nil {
				return nil, err
			}
			scopes := map[string]bool{}
			for _, s := range k.Scopes {
				scopes[s] = true
			}
			keys[h] = Key{MerchantID: m.ID, Scopes: scopes}
		}
	}
	return keys, nil
}

const ctxKey = "paygate.key"

// authenticate resolves the bearer key; 401 without a valid one.
func (a *API) authenticate(c *gin.Context) {
	h := c.GetHeader("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		abort(c, apierr.New(http.StatusUnauthorized, apierr.Unauthenticated, "", "send Authorization: Bearer <api key>"))
		return
	}
	key, ok := a.keys[config.HashKey(strings.TrimSpace(token))]
	if !ok {
		abort(c, apierr.New(http.StatusUnauthorized, apierr.Unauthenticated, "", "unknown API key"))
		return
	}
	c.Set(ctxKey, key)
	c.Next()
}

// require checks the key holds scope; 403 otherwise.
func require(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !keyOf(c).Scopes[scope] {
			abort(c, apierr.New(http.StatusForbidden, apierr.PermissionDenied, "", "this API key lacks the %s scope", scope))
			return
		}
		c.Next()
	}
}

func keyOf(c *gin.Context) Key {
	k, _ := c.Get(ctxKey)
	key, _ := k.(Key)
	return key
}
