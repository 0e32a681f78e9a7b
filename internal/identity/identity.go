// Package identity derives the caller's identity from the bearer JWT that the
// gateway passes in the Authorization header. By default it decodes the
// claims without checking the signature: with a CUSTOM_JWT inbound authorizer
// the gateway has already verified the token before the interceptor runs. A
// Verifier checks the token itself against the identity provider's JWKS, for
// gateways without that authorizer and as defense in depth.
package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/toolgate/toolgate/internal/strictjson"
)

// Principal types.
const (
	TypeUser      = "user"
	TypeMachine   = "machine"
	TypeAnonymous = "anonymous"
)

// Principal is the "principal" member of the attribute document. Lists are
// never nil so that policies can call contains() on them without a null check.
type Principal struct {
	Authenticated bool           `json:"authenticated"`
	ID            string         `json:"id"`
	Type          string         `json:"type"`
	ClientID      string         `json:"clientId"`
	Username      string         `json:"username"`
	Issuer        string         `json:"issuer"`
	Groups        []string       `json:"groups"`
	Scopes        []string       `json:"scopes"`
	Actor         string         `json:"actor"`
	Claims        map[string]any `json:"claims"`
	// Verification says how the token was checked: Off, Verified, or why it
	// was refused (see the constants).
	Verification string `json:"verification"`
}

// Anonymous returns the principal of a caller without a usable token.
func Anonymous() Principal {
	return Principal{Type: TypeAnonymous, Groups: []string{}, Scopes: []string{}, Claims: map[string]any{}}
}

// FromAuthorization returns the principal for an Authorization header value
// without verifying the token (Verification Off). A missing, non-Bearer or
// malformed token yields Anonymous, never an error: the decision is then the
// policies' to make.
func FromAuthorization(header string) Principal {
	var none *Verifier
	return none.Principal(context.Background(), header)
}

// bearer returns the token of a "Bearer <token>" header value.
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// Token limits. A token is read before its signature is checked (and with
// JWKS_URL set, before anyone is authenticated), so its size and shape are
// bounded first: 1.4 million empty objects in a 5.6 MB token peaked at
// 178 MB. Real tokens are a few KB; identity providers that put hundreds of
// groups in a token stay well under these.
const (
	MaxTokenBytes  = 32 << 10
	maxClaimDepth  = 16
	maxClaimValues = 4096
)

// claimLimits hold a token's header and payload to the limits.
var claimLimits = strictjson.Options{MaxDepth: maxClaimDepth, MaxValues: maxClaimValues}

// DecodeClaims returns the payload of a compact JWS without verifying it. It
// reports false unless the token has three segments and its payload is a
// base64url-encoded JSON object with no two claims of the same name (whose
// winner parsers disagree on), within the token limits.
func DecodeClaims(token string) (map[string]any, bool) {
	if len(token) > MaxTokenBytes {
		return nil, false
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return nil, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, false
	}
	if strictjson.Check(payload, claimLimits) != nil {
		return nil, false
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil || claims == nil {
		return nil, false
	}
	return claims, true
}

// FromClaims maps JWT claims to a principal. It knows Amazon Cognito's claim
// names (cognito:groups, username, client_id) and the common ones of other
// identity providers (groups, scp, azp, preferred_username).
func FromClaims(claims map[string]any) Principal {
	p := Anonymous()
	p.Claims = claims
	p.ClientID = firstString(claims, "client_id", "azp", "cid")
	p.ID = firstString(claims, "sub")
	if p.ID == "" {
		p.ID = p.ClientID
	}
	p.Username = firstString(claims, "username", "cognito:username", "preferred_username", "email")
	p.Issuer = stringClaim(claims, "iss")
	p.Groups = listClaim(claims, "cognito:groups")
	if len(p.Groups) == 0 {
		p.Groups = listClaim(claims, "groups")
	}
	// OAuth scopes: a space-separated string (RFC 8693 "scope") or a list
	// (Okta's and Entra's "scp").
	p.Scopes = fields(listClaim(claims, "scope"))
	if len(p.Scopes) == 0 {
		p.Scopes = fields(listClaim(claims, "scp"))
	}
	if act, ok := claims["act"].(map[string]any); ok {
		p.Actor = stringClaim(act, "sub")
	}
	if p.ID == "" {
		return p
	}
	p.Authenticated = true
	p.Type = TypeUser
	// A client-credentials token names the client as its subject and carries
	// no user name (Cognito: sub == client_id; Auth0: gty).
	if (p.ClientID != "" && p.ID == p.ClientID && p.Username == "") || stringClaim(claims, "gty") == "client-credentials" {
		p.Type = TypeMachine
	}
	return p
}

func stringClaim(claims map[string]any, name string) string {
	s, _ := claims[name].(string)
	return s
}

func firstString(claims map[string]any, names ...string) string {
	for _, n := range names {
		if s := stringClaim(claims, n); s != "" {
			return s
		}
	}
	return ""
}

// listClaim reads a claim that is a list of strings or a single string.
func listClaim(claims map[string]any, name string) []string {
	out := []string{}
	switch v := claims[name].(type) {
	case string:
		if v != "" {
			out = append(out, v)
		}
	case []any:
		for _, item := range v {
			if s, ok := item.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// fields splits each item at white space.
func fields(items []string) []string {
	out := []string{}
	for _, item := range items {
		out = append(out, strings.Fields(item)...)
	}
	return out
}
