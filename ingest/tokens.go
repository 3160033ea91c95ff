package ingest

import (
	"sync"
	"time"

	"github.com/ovation-live/ovation/internal/auth"
)

// tokenCache remembers the tokens the verifier accepted, so a client that
// publishes many requests with one token has its signature checked once
// (HS256 was 4% of the HTTP handler's CPU at batches of 100; RS256 and
// ES256 cost far more). A token is found only by its exact text, so an
// answer is never another token's, and only until its exp: an entry
// never outlives the token's own validity (the verifier's leeway is not
// added, so a token in its leeway is checked every time). Only accepted
// tokens enter, so filling the cache takes validly signed tokens; it is
// bounded by the bytes of the tokens it holds and is emptied when full.
// Keys and the other checks (issuer, audience) are fixed for the
// verifier's life, so an accepted token stays accepted until exp.
type tokenCache struct {
	mu       sync.Mutex
	m        map[string]cachedToken
	bytes    int
	maxBytes int
}

type cachedToken struct {
	claims *auth.Claims
	until  time.Time
}

const tokenCacheBytes = 4 << 20

func newTokenCache(maxBytes int) *tokenCache {
	return &tokenCache{m: make(map[string]cachedToken), maxBytes: maxBytes}
}

// get returns the claims of token if it is cached and still valid at now.
// The claims are shared: callers only read them.
func (c *tokenCache) get(token string, now time.Time) *auth.Claims {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[token]
	if !ok {
		return nil
	}
	if !now.Before(e.until) {
		delete(c.m, token)
		c.bytes -= len(token)
		return nil
	}
	return e.claims
}

// put remembers claims, which the verifier just returned for token.
func (c *tokenCache) put(token string, claims *auth.Claims, now time.Time) {
	if claims == nil || claims.ExpiresAt == nil || !now.Before(claims.ExpiresAt.Time) || len(token) > c.maxBytes/16 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[token]; ok {
		return
	}
	if c.bytes+len(token) > c.maxBytes {
		clear(c.m)
		c.bytes = 0
	}
	c.m[token] = cachedToken{claims: claims, until: claims.ExpiresAt.Time}
	c.bytes += len(token)
}
