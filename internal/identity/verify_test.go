package identity_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/testutil"
)

// idp is an identity provider on loopback: its signing keys, and a JWKS
// endpoint serving the public halves of the keys it currently publishes.
type idp struct {
	t         testing.TB
	srv       *httptest.Server
	mu        sync.Mutex
	published []jose.JSONWebKey
	hits      atomic.Int32
	down      atomic.Bool // answer 503
}

func newIDP(t testing.TB) *idp {
	p := &idp{t: t}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: p.published})
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// publish makes the JWKS serve the public halves of keys.
func (p *idp) publish(keys ...jose.JSONWebKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published = nil
	for _, k := range keys {
		p.published = append(p.published, k.Public())
	}
}

var (
	keyOnce sync.Once
	rsaKey1 jose.JSONWebKey
	rsaKey2 jose.JSONWebKey
	ecKey   jose.JSONWebKey
)

// keys returns two RSA keys and an EC key, generated once per test binary.
func keys(t testing.TB) (jose.JSONWebKey, jose.JSONWebKey, jose.JSONWebKey) {
	keyOnce.Do(func() {
		r1, err1 := rsa.GenerateKey(rand.Reader, 2048)
		r2, err2 := rsa.GenerateKey(rand.Reader, 2048)
		ec, err3 := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err1 != nil || err2 != nil || err3 != nil {
			panic("key generation failed")
		}
		rsaKey1 = jose.JSONWebKey{Key: r1, KeyID: "rsa-1", Algorithm: "RS256", Use: "sig"}
		rsaKey2 = jose.JSONWebKey{Key: r2, KeyID: "rsa-2", Algorithm: "RS256", Use: "sig"}
		ec1 := jose.JSONWebKey{Key: ec, KeyID: "ec-1", Use: "sig"}
		ecKey = ec1
	})
	return rsaKey1, rsaKey2, ecKey
}

func sign(t testing.TB, key jose.JSONWebKey, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	return testutil.SignJWT(t, key, alg, claims)
}

// unsigned builds a token with the given header and claims and signature.
func unsigned(header, claims map[string]any, sig []byte) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString(sig)
}

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func verifier(t *testing.T, url string, edit func(*identity.VerifierConfig)) *identity.Verifier {
	t.Helper()
	cfg := identity.VerifierConfig{
		JWKSURL:   url,
		Issuer:    "https://idp.example",
		Audiences: []string{"gateway", "app-client"},
		Leeway:    30 * time.Second,
		Now:       func() time.Time { return now },
	}
	if edit != nil {
		edit(&cfg)
	}
	v, err := identity.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func claims(edit func(map[string]any)) map[string]any {
	c := map[string]any{
		"sub": "u-1", "username": "alice", "iss": "https://idp.example", "aud": "gateway",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Add(-time.Minute).Unix(), "token_use": "access",
		"cognito:groups": []any{"sre"},
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func TestVerifier(t *testing.T) {
	k1, k2, ec := keys(t)
	p := newIDP(t)
	p.publish(k1, ec)
	v := verifier(t, p.srv.URL, func(c *identity.VerifierConfig) { c.TokenUse = "access" })
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	public, err := x509.MarshalPKIXPublicKey(k1.Public().Key)
	if err != nil {
		t.Fatal(err)
	}
	hs256 := func(secret []byte) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, (&jose.SignerOptions{}).WithHeader("kid", "rsa-1"))
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(claims(nil))
		jws, _ := signer.Sign(payload)
		s, _ := jws.CompactSerialize()
		return s
	}
	tampered := sign(t, k1, jose.RS256, claims(nil))
	{
		forged := unsigned(map[string]any{"alg": "RS256", "kid": "rsa-1"}, claims(func(c map[string]any) { c["cognito:groups"] = []any{"platform-admins"} }), nil)
		parts := splitToken(tampered)
		tampered = splitToken(forged)[0] + "." + splitToken(forged)[1] + "." + parts[2]
	}
	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"RS256", sign(t, k1, jose.RS256, claims(nil)), identity.Verified},
		{"ES256 without kid alg", sign(t, ec, jose.ES256, claims(nil)), identity.Verified},
		{"aud list", sign(t, k1, jose.RS256, claims(func(c map[string]any) { c["aud"] = []any{"other", "gateway"} })), identity.Verified},
		{"cognito client_id", sign(t, k1, jose.RS256, claims(func(c map[string]any) { delete(c, "aud"); c["client_id"] = "app-client" })), identity.Verified},
		{"expired within leeway", sign(t, k1, jose.RS256, claims(func(c map[string]any) { c["exp"] = now.Add(-20 * time.Second).Unix() })), identity.Verified},
		{"expired", sign(t, k1, jose.RS256, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })), identity.Expired},
		{"not yet valid", sign(t, k1, jose.RS256, claims(func(c map[string]any) { c["nbf"] = now.Add(time.Minute).Unix() })), identity.NotYetValid},
		{"issued in the future", sign(t, k1, jose.RS256, claims(func(c map[string]any) { c["iat"] = now.Add(time.Hour).Unix() })), identity.NotYetValid},
		{"no exp", sign(t, k1, jose.RS256, claims(func(c map[string]any) { delete(c, "exp") })), identity.NoExpiry},
		{"wrong issuer", sign(t, k1, jose.RS256, claims(func(c map[string]any) { c["iss"] = "https://evil.example" })), identity.WrongIssuer},
		{"wrong audience", sign(t, k1, jose.RS256, claims(func(c map[string]any) { c["aud"] = "other" })), identity.WrongAudience},
		{"client_id is not aud", sign(t, k1, jose.RS256, claims(func(c map[string]any) { c["aud"] = "other"; c["client_id"] = "app-client" })), identity.WrongAudience},
		{"wrong token use", sign(t, k1, jose.RS256, claims(func(c map[string]any) { c["token_use"] = "id" })), identity.WrongTokenUse},
		{"alg none", unsigned(map[string]any{"alg": "none"}, claims(nil), nil), identity.BadAlgorithm},
		{"alg None", unsigned(map[string]any{"alg": "None", "kid": "rsa-1"}, claims(nil), nil), identity.BadAlgorithm},
		{"HS256 with the public key", hs256(public), identity.BadAlgorithm},
		{"HS256 with the JWK's n", hs256(k1.Public().Key.(*rsa.PublicKey).N.Bytes()), identity.BadAlgorithm},
		{"no alg", unsigned(map[string]any{"kid": "rsa-1"}, claims(nil), []byte("x")), identity.BadAlgorithm},
		{"tampered claims", tampered, identity.BadSignature},
		{"known kid, other key", sign(t, jose.JSONWebKey{Key: k2.Key, KeyID: "rsa-1"}, jose.RS256, claims(nil)), identity.BadSignature},
		{"unknown kid", sign(t, k2, jose.RS256, claims(nil)), identity.UnknownKey},
		{"kid of a key for another alg", sign(t, jose.JSONWebKey{Key: k1.Key, KeyID: "rsa-1"}, jose.PS256, claims(nil)), identity.UnknownKey},
		{"duplicate claims", dupClaims(), identity.Malformed},
		{"two segments", "abc.def", identity.Malformed},
		{"payload not an object", unsigned(map[string]any{"alg": "RS256"}, nil, []byte("s")), identity.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := v.Principal(context.Background(), "Bearer "+tt.token)
			if got.Verification != tt.want {
				t.Fatalf("verification %q, want %q", got.Verification, tt.want)
			}
			if tt.want != identity.Verified {
				if got.Authenticated || got.ID != "" || len(got.Claims) != 0 || len(got.Groups) != 0 {
					t.Errorf("refused token left an identity: %+v", got)
				}
				return
			}
			if !got.Authenticated || got.ID != "u-1" || len(got.Groups) != 1 || got.Groups[0] != "sre" {
				t.Errorf("verified token: %+v", got)
			}
		})
	}
	if got := v.Principal(context.Background(), "Basic dXNlcjpwYXNz"); got.Verification != identity.NoToken || got.Authenticated {
		t.Errorf("basic auth: %+v", got)
	}
}

func splitToken(s string) []string {
	var parts []string
	start := 0
	for i := range len(s) {
		if s[i] == '.' {
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// dupClaims is a token whose payload names "sub" twice.
func dupClaims() string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256","kid":"rsa-1"}`)) + "." +
		enc.EncodeToString([]byte(`{"sub":"admin","sub":"u-1","exp":9999999999}`)) + ".c2ln"
}

// TestNoVerifier: without a JWKS the claims are read unverified and say
// so; but what no verifying authorizer would pass is refused all the same:
// an unsigned token, one signed with a shared secret, an expired one, one
// not yet valid.
func TestNoVerifier(t *testing.T) {
	k1, _, _ := keys(t)
	var v *identity.Verifier
	current := func(edit func(map[string]any)) map[string]any {
		return claims(func(c map[string]any) {
			c["exp"], c["iat"] = time.Now().Add(time.Hour).Unix(), time.Now().Add(-time.Minute).Unix()
			if edit != nil {
				edit(c)
			}
		})
	}
	p := v.Principal(context.Background(), "Bearer "+sign(t, k1, jose.RS256, current(nil)))
	if p.Verification != identity.Off || !p.Authenticated || p.ID != "u-1" {
		t.Errorf("got %+v", p)
	}
	enc := base64.RawURLEncoding
	payload, _ := json.Marshal(current(nil))
	unsigned := func(header string) string {
		return "Bearer " + enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString(payload) + ".c2ln"
	}
	for name, tt := range map[string]struct{ header, want string }{
		"x.y.z":                {"Bearer x.y.z", identity.Malformed},
		"alg none":             {unsigned(`{"alg":"none"}`), identity.BadAlgorithm},
		"alg None":             {unsigned(`{"alg":"None","typ":"JWT"}`), identity.BadAlgorithm},
		"no alg":               {unsigned(`{"typ":"JWT"}`), identity.BadAlgorithm},
		"a shared secret":      {unsigned(`{"alg":"HS256"}`), identity.BadAlgorithm},
		"expired":              {"Bearer " + sign(t, k1, jose.RS256, current(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() })), identity.Expired},
		"not yet valid":        {"Bearer " + sign(t, k1, jose.RS256, current(func(c map[string]any) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), identity.NotYetValid},
		"issued in the future": {"Bearer " + sign(t, k1, jose.RS256, current(func(c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() })), identity.NotYetValid},
		"Alg, not alg":         {unsigned(`{"Alg":"RS256"}`), identity.BadAlgorithm},
		"an empty signature":   {strings.TrimSuffix(unsigned(`{"alg":"RS256"}`), "c2ln"), identity.Malformed},
		"exp as a string":      {"Bearer " + sign(t, k1, jose.RS256, current(func(c map[string]any) { c["exp"] = "1000" })), identity.Malformed},
		"iat as a string":      {"Bearer " + sign(t, k1, jose.RS256, current(func(c map[string]any) { c["iat"] = "9999999999" })), identity.Malformed},
		"nbf beyond any date":  {"Bearer " + sign(t, k1, jose.RS256, current(func(c map[string]any) { c["nbf"] = 1e30 })), identity.NotYetValid},
		"exp before any date":  {"Bearer " + sign(t, k1, jose.RS256, current(func(c map[string]any) { c["exp"] = -1e30 })), identity.Expired},
	} {
		if p := v.Principal(context.Background(), tt.header); p.Verification != tt.want || p.Authenticated {
			t.Errorf("%s: got %+v, want refused (%s)", name, p, tt.want)
		}
	}
}

// TestKeyRotation: a token signed with a key published after start-up is
// verified after one refetch, and made-up kids refetch at most once per
// interval.
func TestKeyRotation(t *testing.T) {
	k1, k2, _ := keys(t)
	p := newIDP(t)
	p.publish(k1)
	clock := now
	var mu sync.Mutex
	v := verifier(t, p.srv.URL, func(c *identity.VerifierConfig) {
		c.RefetchInterval = time.Minute
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	})
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.publish(k1, k2) // the identity provider rotates in a new key
	newToken := "Bearer " + sign(t, k2, jose.RS256, claims(func(c map[string]any) { c["exp"] = now.Add(time.Hour).Unix() }))
	// Seconds after the start-up fetch, 16 concurrent tokens of the new key
	// are verified at once, by one fetch.
	advance(5 * time.Second)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if got := v.Principal(context.Background(), newToken); got.Verification != identity.Verified {
				t.Errorf("after rotation: %q", got.Verification)
			}
		})
	}
	wg.Wait()
	if n := p.hits.Load(); n != 2 {
		t.Fatalf("JWKS fetched %d times, want 2 (one refetch for 16 concurrent tokens)", n)
	}
	// A flood of made-up kids costs one fetch (the miss), then nothing for
	// the penalty interval.
	forge := func(i int) string {
		forged := jose.JSONWebKey{Key: k2.Key, KeyID: "made-up-" + string(rune('a'+i%26))}
		return "Bearer " + sign(t, forged, jose.RS256, claims(nil))
	}
	for i := range 50 {
		if got := v.Principal(context.Background(), forge(i)); got.Verification != identity.UnknownKey {
			t.Fatalf("made-up kid: %q", got.Verification)
		}
	}
	if n := p.hits.Load(); n != 3 {
		t.Fatalf("made-up kids fetched the JWKS %d more times, want 1", n-2)
	}
	// Known keys still verify during the penalty, from the cache of keys.
	if got := v.Principal(context.Background(), "Bearer "+sign(t, k1, jose.RS256, claims(nil))); got.Verification != identity.Verified {
		t.Fatalf("known key during the penalty: %q", got.Verification)
	}
	advance(61 * time.Second)
	v.Principal(context.Background(), forge(0))
	if n := p.hits.Load(); n != 4 {
		t.Fatalf("after the penalty: %d fetches, want 4", n)
	}
}

// TestRefetchBlocksNoOne: while a refetch waits on a slow identity
// provider, tokens of known keys verify without waiting for it.
func TestRefetchBlocksNoOne(t *testing.T) {
	k1, k2, _ := keys(t)
	stall := make(chan struct{})
	var stalling atomic.Bool
	pub, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k1.Public()}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if stalling.Load() {
			<-stall
		}
		_, _ = w.Write(pub)
	}))
	defer srv.Close()
	defer close(stall)
	v := verifier(t, srv.URL, func(c *identity.VerifierConfig) { c.FetchTimeout = 5 * time.Second })
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	stalling.Store(true)
	go v.Principal(context.Background(), "Bearer "+sign(t, k2, jose.RS256, claims(nil))) // unknown kid: a stalled refetch
	time.Sleep(50 * time.Millisecond)
	done := make(chan string, 1)
	go func() {
		done <- v.Principal(context.Background(), "Bearer "+sign(t, k1, jose.RS256, claims(func(c map[string]any) { c["sub"] = "other" }))).Verification
	}()
	select {
	case got := <-done:
		if got != identity.Verified {
			t.Errorf("known key: %q", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a known key's verification waited for the refetch")
	}
}

// TestCachedClaimsAreNotShared: a document that changes its claims changes
// no other document's.
func TestCachedClaimsAreNotShared(t *testing.T) {
	k1, _, _ := keys(t)
	p := newIDP(t)
	p.publish(k1)
	v := verifier(t, p.srv.URL, nil)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	token := "Bearer " + sign(t, k1, jose.RS256, claims(nil))
	first := v.Principal(context.Background(), token)
	first.Claims["sub"] = "someone-else"
	if second := v.Principal(context.Background(), token); second.Claims["sub"] == "someone-else" {
		t.Error("the cache handed out a shared claims map")
	}
}

// TestUnreachableJWKS: without keys every token is unverified, and the
// verifier recovers once the JWKS can be fetched again.
func TestUnreachableJWKS(t *testing.T) {
	k1, _, _ := keys(t)
	token := "Bearer " + sign(t, k1, jose.RS256, claims(nil))

	closed := newIDP(t)
	closed.srv.Close()
	v := verifier(t, closed.srv.URL, func(c *identity.VerifierConfig) { c.FetchTimeout = 500 * time.Millisecond })
	if err := v.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh of a closed server succeeded")
	}
	if got := v.Principal(context.Background(), token); got.Verification != identity.NoKeys || got.Authenticated {
		t.Fatalf("closed: got %+v", got)
	}

	p := newIDP(t)
	p.publish(k1)
	p.down.Store(true)
	clock := now
	var mu sync.Mutex
	v = verifier(t, p.srv.URL, func(c *identity.VerifierConfig) {
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	})
	if err := v.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh of a failing JWKS succeeded")
	}
	if got := v.Principal(context.Background(), token); got.Verification != identity.NoKeys {
		t.Fatalf("down: %q", got.Verification)
	}
	p.down.Store(false)
	mu.Lock()
	clock = clock.Add(2 * time.Minute)
	mu.Unlock()
	if got := v.Principal(context.Background(), token); got.Verification != identity.Verified {
		t.Fatalf("after recovery: %q", got.Verification)
	}
}

func TestBadJWKS(t *testing.T) {
	k1, _, _ := keys(t)
	pub, _ := json.Marshal(k1.Public())
	for name, body := range map[string]string{
		"not json":    "<html>",
		"no keys":     `{"keys":[]}`,
		"secret only": `{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"rsa-1"}]}`,
		"private key": func() string { b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k1}}); return string(b) }(),
		"enc key":     `{"keys":[` + string(pub[:len(pub)-1]) + `,"use":"enc"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(body)) }))
			defer srv.Close()
			v := verifier(t, srv.URL, nil)
			if err := v.Refresh(context.Background()); err == nil {
				t.Fatal("Refresh accepted it")
			}
			if got := v.Principal(context.Background(), "Bearer "+sign(t, k1, jose.RS256, claims(nil))); got.Verification != identity.NoKeys {
				t.Fatalf("got %q", got.Verification)
			}
		})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusInternalServerError) }))
	defer srv.Close()
	if err := verifier(t, srv.URL, nil).Refresh(context.Background()); err == nil {
		t.Error("status 500 accepted")
	}
}

func TestVerifierConfig(t *testing.T) {
	for _, url := range []string{"http://idp.example/jwks", "ftp://127.0.0.1/x", "jwks.json", ""} {
		if _, err := identity.NewVerifier(identity.VerifierConfig{JWKSURL: url}); err == nil {
			t.Errorf("%q accepted", url)
		}
	}
	for _, url := range []string{"https://cognito-idp.us-east-1.amazonaws.com/pool/.well-known/jwks.json", "http://127.0.0.1:9/x", "http://[::1]:9/x", "http://localhost/x"} {
		if _, err := identity.NewVerifier(identity.VerifierConfig{JWKSURL: url}); err != nil {
			t.Errorf("%q: %v", url, err)
		}
	}
}

// BenchmarkPrincipal: reading a token unverified, and verifying it (RS256,
// ES256) with the keys cached.
func BenchmarkPrincipal(b *testing.B) {
	k1, _, ec := keys(b)
	p := newIDP(b)
	p.publish(k1, ec)
	v, err := identity.NewVerifier(identity.VerifierConfig{JWKSURL: p.srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	if err := v.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	live := func(c map[string]any) { c["exp"] = time.Now().Add(time.Hour).Unix(); c["iat"] = time.Now().Unix() }
	rs := "Bearer " + sign(b, k1, jose.RS256, claims(live))
	es := "Bearer " + sign(b, ec, jose.ES256, claims(live))
	for _, bc := range []struct {
		name   string
		v      *identity.Verifier
		header string
	}{{"unverified", nil, rs}, {"RS256", v, rs}, {"ES256", v, es}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if p := bc.v.Principal(context.Background(), bc.header); !p.Authenticated {
					b.Fatal(p.Verification)
				}
			}
		})
	}
}

// TestCachedTokenExpires: a verified token is cached, but its time is
// checked on every use.
func TestCachedTokenExpires(t *testing.T) {
	k1, _, _ := keys(t)
	p := newIDP(t)
	p.publish(k1)
	clock := now
	v := verifier(t, p.srv.URL, func(c *identity.VerifierConfig) { c.Now = func() time.Time { return clock } })
	token := "Bearer " + sign(t, k1, jose.RS256, claims(func(c map[string]any) {
		c["exp"] = now.Add(time.Minute).Unix()
		c["nbf"] = now.Add(-time.Minute).Unix()
	}))
	for _, step := range []struct {
		at   time.Time
		want string
	}{
		{now, identity.Verified},
		{now.Add(80 * time.Second), identity.Verified}, // within the 30s leeway
		{now.Add(91 * time.Second), identity.Expired},
		{now.Add(-2 * time.Minute), identity.NotYetValid},
		{now, identity.Verified},
	} {
		clock = step.at
		if got := v.Principal(context.Background(), token); got.Verification != step.want {
			t.Errorf("at %v: %q, want %q", step.at.Sub(now), got.Verification, step.want)
		}
	}
}
