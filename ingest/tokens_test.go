package ingest

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ovation-live/ovation/internal/auth"
)

// TestTokenCache: an accepted token is answered from the cache by its
// exact text only, never at or after its exp, and a token without exp or
// already expired is never kept; the cache stays within its bytes.
func TestTokenCache(t *testing.T) {
	now := time.Unix(1_760_000_000, 0)
	claims := func(sub string, exp time.Time) *auth.Claims {
		return &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: sub, ExpiresAt: jwt.NewNumericDate(exp)}}
	}
	c := newTokenCache(1 << 10)
	a := claims("alice", now.Add(time.Minute))
	c.put("token-a", a, now)
	if got := c.get("token-a", now.Add(59*time.Second)); got != a {
		t.Fatalf("token-a before exp: %v, want alice's claims", got)
	}
	for _, other := range []string{"token-", "token-a ", "token-b", "Token-a"} {
		if got := c.get(other, now); got != nil {
			t.Fatalf("%q answered with %v: only the exact token may be", other, got.User())
		}
	}
	if got := c.get("token-a", now.Add(time.Minute)); got != nil {
		t.Fatalf("token-a at its exp: %v, want a miss (the verifier decides)", got.User())
	}
	if got := c.get("token-a", now); got != nil {
		t.Fatal("token-a found again after it expired: it must have been dropped")
	}
	c.put("expired", claims("bob", now.Add(-time.Second)), now)
	c.put("no-exp", &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "carol"}}, now)
	if c.get("expired", now.Add(-time.Hour)) != nil || c.get("no-exp", now) != nil {
		t.Fatal("a token past its exp or without one was kept")
	}
	for i := 0; i < 100; i++ {
		tok := strings.Repeat("x", 40) + string(rune('A'+i%26)) + strings.Repeat("y", i)
		c.put(tok, claims("dave", now.Add(time.Hour)), now)
		if c.bytes > c.maxBytes {
			t.Fatalf("after %d tokens the cache holds %d bytes, over its %d", i+1, c.bytes, c.maxBytes)
		}
	}
}
