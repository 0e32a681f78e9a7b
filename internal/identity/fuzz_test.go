package identity_test

import (
	"context"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/toolgate/toolgate/internal/identity"
)

// FuzzToken: no Authorization value makes reading or verifying a token
// panic; a principal is authenticated only with a subject; and a token
// verifies only if its signed header and payload are those of a token the
// key's owner signed.
func FuzzToken(f *testing.F) {
	k1, _, ec := keys(f)
	p := newIDP(f)
	p.publish(k1, ec)
	v, err := identity.NewVerifier(identity.VerifierConfig{JWKSURL: p.srv.URL, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	if err := v.Refresh(context.Background()); err != nil {
		f.Fatal(err)
	}
	signed := map[string]bool{}
	for _, tok := range []string{
		sign(f, k1, jose.RS256, claims(nil)),
		sign(f, ec, jose.ES256, claims(func(c map[string]any) { c["act"] = map[string]any{"sub": "agent"} })),
	} {
		signed[signedPart(tok)] = true
		f.Add("Bearer " + tok)
	}
	for _, s := range []string{"", "Bearer", "Basic x", "Bearer a.b.c", "bearer e30.e30.", "Bearer " + dupClaims(),
		"Bearer " + unsigned(map[string]any{"alg": "none"}, claims(nil), nil)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		for _, got := range []identity.Principal{identity.FromAuthorization(header), v.Principal(context.Background(), header)} {
			if got.Groups == nil || got.Scopes == nil || got.Claims == nil {
				t.Fatalf("nil list or claims: %+v", got)
			}
			if got.Authenticated && got.ID == "" {
				t.Fatalf("authenticated without a subject: %+v", got)
			}
			if got.Verification == "" {
				t.Fatal("no verification outcome")
			}
		}
		if got := v.Principal(context.Background(), header); got.Verification == identity.Verified {
			_, tok, _ := strings.Cut(strings.TrimSpace(header), " ")
			if !signed[signedPart(strings.TrimSpace(tok))] {
				t.Fatalf("verified a token nobody signed: %q", header)
			}
		}
	})
}

// signedPart is a compact JWS without its signature.
func signedPart(token string) string {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return token
	}
	return token[:i]
}
