package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/toolgate/toolgate/internal/strictjson"
)

// Verification outcomes: the value of Principal.Verification. Every value
// but Verified and Off means the token was refused and the caller is
// anonymous.
const (
	Off            = "off"         // verification not configured: the gateway's authorizer is trusted
	Verified       = "verified"    // signature, time, issuer, audience and token use checked
	NoToken        = "no_token"    // no Authorization: Bearer header
	Malformed      = "malformed"   // not a compact JWS with a JSON object payload
	BadAlgorithm   = "algorithm"   // none, HMAC or another algorithm not allowed
	UnknownKey     = "unknown_key" // no key of the JWKS, even refetched, has the token's kid
	BadSignature   = "signature"
	Expired        = "expired"
	NotYetValid    = "not_yet_valid" // nbf or iat in the future
	NoExpiry       = "no_expiry"
	WrongIssuer    = "issuer"
	WrongAudience  = "audience"
	WrongTokenUse  = "token_use"
	NoKeys         = "jwks_unavailable" // the JWKS could not be fetched
	AmbiguousToken = "ambiguous"        // two Authorization headers that differ
)

// algorithms are the signature algorithms a Verifier accepts: asymmetric
// ones only. HMAC would let anyone holding the public key sign ("HS256
// signed with the public key"), and "none" signs nothing.
var algorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// JWKSURL is where the signing keys are: https, or http on a loopback
	// address (for tests and local runs).
	JWKSURL string
	// Issuer, when set, must equal the iss claim.
	Issuer string
	// Audiences, when set, must include an aud value or, for Amazon Cognito
	// access tokens (which have no aud), the client_id claim.
	Audiences []string
	// TokenUse, when set, must equal the token_use claim (Cognito: "access"
	// or "id").
	TokenUse string
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// FetchTimeout bounds one JWKS request (default 2s).
	FetchTimeout time.Duration
	// RefetchInterval is the penalty after a miss (default 60s): an unknown
	// kid fetches the keys at once, but once a fetch did not bring the kid
	// asked for (or failed), unknown kids fetch nothing for this long, so
	// that tokens with made-up kids cannot flood the identity provider while
	// a newly rotated key is accepted without delay.
	RefetchInterval time.Duration
	// Client makes the JWKS requests (default: a client with no redirects).
	Client *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Verifier verifies bearer JWTs against a JWKS. It is safe for concurrent
// use. A nil *Verifier verifies nothing: see Principal.
type Verifier struct {
	cfg VerifierConfig

	mu   sync.Mutex // guards the fields below; never held across a fetch
	keys []jose.JSONWebKey
	// penaltyUntil: after a miss, unknown kids fetch nothing before then.
	penaltyUntil time.Time
	// inflight is the fetch under way, which concurrent misses wait for
	// rather than fetching again.
	inflight *fetchCall

	// verified caches the claims of tokens whose signature, issuer,
	// audience and use were checked, by the token's hash: an agent sends
	// the same token with every call, and a signature check costs 60-100µs.
	// Time is checked again on every use.
	verified tokenCache[verifiedToken]
}

// unverified caches the claims of tokens read without verification: an
// agent sends the same token with every call, and decoding it costs
// microseconds.
var unverified tokenCache[map[string]any]

// tokenCache is a bounded cache by token hash (the token itself is never
// kept); when full it starts over.
type tokenCache[V any] struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]V
}

func (c *tokenCache[V]) get(key [sha256.Size]byte) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok
}

func (c *tokenCache[V]) put(key [sha256.Size]byte, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = make(map[[sha256.Size]byte]V)
	}
	c.m[key] = v
}

// unverifiedClaims returns a copy of token's claims, read without
// verification.
func unverifiedClaims(token string) (map[string]any, string) {
	key := sha256.Sum256([]byte(token))
	claims, ok := unverified.get(key)
	if !ok {
		if claims, ok = DecodeClaims(token); !ok {
			return nil, Malformed
		}
		// Not verified here, but never what no verifying authorizer
		// would have passed: an unsigned token ("alg": "none"), one
		// signed with a shared secret. The key is the whole token,
		// header included, so only tokens that pass are cached.
		if _, ok := algorithm(token); !ok {
			return nil, BadAlgorithm
		}
		if strings.HasSuffix(token, ".") {
			return nil, Malformed // an empty signature is none
		}
		unverified.put(key, claims)
	}
	return copyJSON(claims).(map[string]any), ""
}

// verifiedToken is a cache entry: the claims and the token's validity window.
type verifiedToken struct {
	claims   map[string]any
	exp, nbf time.Time
}

// maxCached bounds the cache; when full it starts over.
const maxCached = 4096

// NewVerifier checks cfg and returns a Verifier with no keys yet: call
// Refresh to fetch them.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("JWKS URL %q: not an absolute URL", cfg.JWKSURL)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("JWKS URL %q: want https (http only on a loopback address)", cfg.JWKSURL)
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("JWT leeway %v: must not be negative", cfg.Leeway)
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 2 * time.Second
	}
	if cfg.RefetchInterval <= 0 {
		cfg.RefetchInterval = time.Minute
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// fetchCall is one JWKS fetch that several verifications may wait for.
type fetchCall struct {
	done chan struct{}
	err  error
}

// Refresh fetches the JWKS now. On failure the keys fetched before stay.
func (v *Verifier) Refresh(ctx context.Context) error {
	return v.fetchShared(ctx, "")
}

// fetchShared fetches the keys, or waits for the fetch already under way.
// When the fetch fails, or kid is not empty and still unknown after it,
// the penalty starts.
func (v *Verifier) fetchShared(ctx context.Context, kid string) error {
	v.mu.Lock()
	call := v.inflight
	leader := call == nil
	if leader {
		call = &fetchCall{done: make(chan struct{})}
		v.inflight = call
	}
	v.mu.Unlock()
	if !leader {
		select {
		case <-call.done:
			return call.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	keys, err := v.fetch(ctx)
	v.mu.Lock()
	if err == nil {
		v.keys = keys
	}
	if err != nil || (kid != "" && !slices.ContainsFunc(keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid })) {
		v.penaltyUntil = v.cfg.Now().Add(v.cfg.RefetchInterval)
	}
	v.inflight = nil
	call.err = err
	v.mu.Unlock()
	close(call.done)
	return err
}

// fetch fetches and parses the keys, holding no lock.
func (v *Verifier) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	return keys, nil
}

// parseJWKS keeps the set's public signature keys. A key this code cannot
// use (a symmetric key, an encryption key, an unknown type) is skipped
// rather than failing the set, as identity providers add key types over time.
func parseJWKS(body []byte) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("not a JWKS: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil || !k.Valid() || !k.IsPublic() || (k.Use != "" && k.Use != "sig") {
			continue
		}
		switch k.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS holds no public signature key")
	}
	return keys, nil
}

// candidates returns the keys that may have signed a token with kid and alg.
func (v *Verifier) candidates(kid string, alg string) []jose.JSONWebKey {
	v.mu.Lock()
	defer v.mu.Unlock()
	return matching(v.keys, kid, alg)
}

func matching(keys []jose.JSONWebKey, kid, alg string) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range keys {
		if (kid == "" || k.KeyID == kid) && (k.Algorithm == "" || k.Algorithm == alg) {
			out = append(out, k)
		}
	}
	return out
}

// refetch fetches the keys again for an unknown kid, unless a miss put the
// verifier in the penalty box, and returns the matching keys and whether
// any keys are known at all. No lock is held while it fetches: other
// verifications, of known keys above all, go on.
func (v *Verifier) refetch(ctx context.Context, kid, alg string) ([]jose.JSONWebKey, bool) {
	v.mu.Lock()
	// A concurrent refetch may have brought the key already.
	keys, penalty := matching(v.keys, kid, alg), v.cfg.Now().Before(v.penaltyUntil)
	v.mu.Unlock()
	if len(keys) == 0 && !penalty {
		_ = v.fetchShared(ctx, kid) // on failure the old keys stay; the caller says why the token failed
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return matching(v.keys, kid, alg), len(v.keys) > 0
}

// Principal returns the principal for an Authorization header value. With a
// nil Verifier the token's claims are read without verification
// (Verification Off): the gateway's authorizer is trusted to have checked
// it. Otherwise a token that fails any check yields an anonymous principal
// whose Verification says why.
func (v *Verifier) Principal(ctx context.Context, authorization string) Principal {
	token, ok := bearer(authorization)
	if !ok {
		return refused(NoToken)
	}
	if len(token) > MaxTokenBytes {
		return refused(Malformed) // before any decoding, verified or not
	}
	if v == nil {
		claims, outcome := unverifiedClaims(token)
		if outcome != "" {
			return refused(outcome)
		}
		// Nor an expired one, or one not yet valid.
		if outcome := timely(claims, time.Now(), DefaultLeeway); outcome != "" {
			return refused(outcome)
		}
		p := FromClaims(claims)
		p.Verification = Off
		return p
	}
	claims, outcome := v.verify(ctx, token)
	if outcome != Verified {
		return refused(outcome)
	}
	p := FromClaims(claims)
	p.Verification = Verified
	return p
}

// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
const DefaultLeeway = 30 * time.Second

// timely returns Expired or NotYetValid for claims whose exp has passed or
// whose nbf or iat is still to come at now, give or take leeway; "" for
// others, a token without exp included (only verification requires one).
func timely(claims map[string]any, now time.Time, leeway time.Duration) string {
	t, l := float64(now.Unix()), leeway.Seconds()
	for _, name := range []string{"exp", "nbf", "iat"} {
		v, present := claims[name]
		if !present {
			continue
		}
		// Seconds compared as numbers: a time claim that is not one (a
		// string, 1e30 beyond any date) is no token a verifier passes.
		f, ok := v.(float64)
		switch {
		case !ok || math.IsNaN(f) || math.IsInf(f, 0):
			return Malformed
		case name == "exp" && t > f+l:
			return Expired
		case name != "exp" && t+l < f:
			return NotYetValid
		}
	}
	return ""
}

func refused(outcome string) Principal {
	p := Anonymous()
	p.Verification = outcome
	return p
}

// verify checks token and returns its claims and Verified, or an outcome
// saying why it was refused.
func (v *Verifier) verify(ctx context.Context, token string) (map[string]any, string) {
	key := sha256.Sum256([]byte(token))
	if hit, ok := v.verified.get(key); ok {
		now := v.cfg.Now()
		switch {
		case now.After(hit.exp.Add(v.cfg.Leeway)):
			return nil, Expired
		case now.Add(v.cfg.Leeway).Before(hit.nbf):
			return nil, NotYetValid
		}
		// Every document gets its own claims: a cached map shared between
		// concurrent documents would let one evaluation's change reach another.
		return copyJSON(hit.claims).(map[string]any), Verified
	}
	var std jwt.Claims
	claims, outcome := v.check(ctx, token, &std)
	if outcome == Verified {
		entry := verifiedToken{claims: claims, exp: std.Expiry.Time()}
		if std.NotBefore != nil {
			entry.nbf = std.NotBefore.Time()
		}
		if std.IssuedAt != nil && std.IssuedAt.Time().After(entry.nbf) {
			entry.nbf = std.IssuedAt.Time()
		}
		v.verified.put(key, entry)
		return copyJSON(claims).(map[string]any), outcome
	}
	return claims, outcome
}

// copyJSON deep-copies a JSON value as encoding/json decodes it.
func copyJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = copyJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyJSON(e)
		}
		return out
	}
	return v
}

// check verifies token without the cache, filling std with its registered
// claims.
func (v *Verifier) check(ctx context.Context, token string, std *jwt.Claims) (map[string]any, string) {
	if _, ok := DecodeClaims(token); !ok {
		return nil, Malformed
	}
	alg, ok := algorithm(token)
	if !ok {
		return nil, BadAlgorithm
	}
	tok, err := jwt.ParseSigned(token, algorithms)
	if err != nil || len(tok.Headers) != 1 {
		return nil, Malformed
	}
	kid := tok.Headers[0].KeyID
	keys := v.candidates(kid, alg)
	if len(keys) == 0 {
		var known bool
		if keys, known = v.refetch(ctx, kid, alg); !known {
			return nil, NoKeys
		}
		if len(keys) == 0 {
			return nil, UnknownKey
		}
	}
	var claims map[string]any
	verified := false
	for _, k := range keys {
		if err := tok.Claims(k.Key, std, &claims); err == nil {
			verified = true
			break
		}
	}
	switch {
	case !verified:
		return nil, BadSignature
	case std.Expiry == nil:
		return nil, NoExpiry
	}
	err = std.ValidateWithLeeway(jwt.Expected{Time: v.cfg.Now()}, v.cfg.Leeway)
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return nil, Expired
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return nil, NotYetValid
	case err != nil:
		return nil, Malformed
	case v.cfg.Issuer != "" && std.Issuer != v.cfg.Issuer:
		return nil, WrongIssuer
	case len(v.cfg.Audiences) > 0 && !v.audienceOK(std.Audience, claims):
		return nil, WrongAudience
	case v.cfg.TokenUse != "" && stringClaim(claims, "token_use") != v.cfg.TokenUse:
		return nil, WrongTokenUse
	}
	return claims, Verified
}

func (v *Verifier) audienceOK(aud jwt.Audience, claims map[string]any) bool {
	for _, want := range v.cfg.Audiences {
		if slices.Contains(aud, want) {
			return true
		}
	}
	// Cognito access tokens carry the app client in client_id, not aud.
	return len(aud) == 0 && slices.Contains(v.cfg.Audiences, stringClaim(claims, "client_id"))
}

// algorithm returns the token's alg header if it is one of algorithms.
func algorithm(token string) (string, bool) {
	head, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil || strictjson.Check(b, claimLimits) != nil {
		return "", false
	}
	// A map, so that only "alg" is the algorithm: a struct field would
	// also take "Alg" or "ALG".
	var h map[string]any
	if json.Unmarshal(b, &h) != nil {
		return "", false
	}
	alg, _ := h["alg"].(string)
	return alg, slices.Contains(algorithms, jose.SignatureAlgorithm(alg))
}
