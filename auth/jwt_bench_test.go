package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/taylordash/taylordash/auth"
	"github.com/taylordash/taylordash/testkit"
)

// BenchmarkJWTAuthenticate measures Authenticate on a Keycloak-shaped
// RS256 access token (2048-bit key, realm and client roles):
//
//   - cold: every token is new to the authenticator, so each one is fully
//     verified (header, signature, claims, principal) and then cached. A
//     pool of tokens is replayed round robin through a cache smaller than
//     the pool, so every lookup misses.
//   - warm: the same token again: a SHA-256 of the token, a cache lookup,
//     a copy of the principal.
//   - warm_parallel: warm, from GOMAXPROCS goroutines.
func BenchmarkJWTAuthenticate(b *testing.B) {
	iss := testkit.OIDC(b)
	claims := testkit.TokenClaims{
		Username:    "alice",
		RealmRoles:  []string{"default-roles-taylordash", "offline_access", "uma_authorization", "admin"},
		ClientRoles: []string{"projects:write", "projects:read"},
	}
	const pool, cacheSize = 64, 16
	requests := make([]*http.Request, pool)
	for i := range requests {
		c := claims
		c.Subject = fmt.Sprintf("user-%d", i)
		requests[i] = jwtRequest("Bearer " + iss.Token(b, c))
	}
	ctx := context.Background()

	b.Run("cold", func(b *testing.B) {
		a := jwtStart(b, iss, func(c *auth.OIDCConfig) { c.VerifiedCacheSize = cacheSize })
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := a.Authenticate(ctx, requests[i%pool]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("warm", func(b *testing.B) {
		a := jwtStart(b, iss, nil)
		r := requests[0]
		if _, err := a.Authenticate(ctx, r); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Authenticate(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm_parallel", func(b *testing.B) {
		a := jwtStart(b, iss, nil)
		for _, r := range requests {
			if _, err := a.Authenticate(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := a.Authenticate(ctx, requests[i%pool]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}
