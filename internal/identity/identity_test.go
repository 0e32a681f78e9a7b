package identity_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/identity"
)

func token(t *testing.T, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + enc.EncodeToString(payload) + ".sig"
}

func TestFromAuthorization(t *testing.T) {
	cognitoUser := map[string]any{"sub": "u-1", "username": "alice", "cognito:groups": []any{"sre", "dev"},
		"client_id": "app", "scope": "openid mcp/read", "iss": "https://idp", "token_use": "access"}
	cognitoMachine := map[string]any{"sub": "app-2", "client_id": "app-2", "scope": "mcp/read mcp/write", "token_use": "access"}
	okta := map[string]any{"sub": "u-3", "preferred_username": "bob@example.com", "groups": "admins", "scp": []any{"a", "b c"}, "azp": "cli"}
	delegated := map[string]any{"sub": "u-4", "username": "carol", "act": map[string]any{"sub": "agent-7"}}
	auth0Machine := map[string]any{"sub": "svc@clients", "gty": "client-credentials", "azp": "svc"}

	tests := []struct {
		name   string
		header string
		want   identity.Principal
	}{
		{"cognito user", "Bearer " + token(t, cognitoUser), identity.Principal{Authenticated: true, ID: "u-1", Type: "user", ClientID: "app",
			Username: "alice", Issuer: "https://idp", Groups: []string{"sre", "dev"}, Scopes: []string{"openid", "mcp/read"}, Claims: cognitoUser}},
		{"cognito machine", "Bearer " + token(t, cognitoMachine), identity.Principal{Authenticated: true, ID: "app-2", Type: "machine", ClientID: "app-2",
			Groups: []string{}, Scopes: []string{"mcp/read", "mcp/write"}, Claims: cognitoMachine}},
		{"other idp", "bearer " + token(t, okta), identity.Principal{Authenticated: true, ID: "u-3", Type: "user", ClientID: "cli",
			Username: "bob@example.com", Groups: []string{"admins"}, Scopes: []string{"a", "b", "c"}, Claims: okta}},
		{"delegation", "Bearer " + token(t, delegated), identity.Principal{Authenticated: true, ID: "u-4", Type: "user",
			Username: "carol", Actor: "agent-7", Groups: []string{}, Scopes: []string{}, Claims: delegated}},
		{"auth0 machine", "Bearer " + token(t, auth0Machine), identity.Principal{Authenticated: true, ID: "svc@clients", Type: "machine", ClientID: "svc",
			Groups: []string{}, Scopes: []string{}, Claims: auth0Machine}},
		{"client id only", "Bearer " + token(t, map[string]any{"client_id": "c"}), identity.Principal{Authenticated: true, ID: "c", Type: "machine", ClientID: "c",
			Groups: []string{}, Scopes: []string{}, Claims: map[string]any{"client_id": "c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.Verification = identity.Off
			if got := identity.FromAuthorization(tt.header); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// TestMalformedIsAnonymous: every token that cannot be read is an anonymous
// caller, never a crash and never a partial identity.
func TestMalformedIsAnonymous(t *testing.T) {
	enc := base64.RawURLEncoding
	for _, header := range []string{
		"", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer abc", "Bearer a.b", "Bearer a.b.c.d",
		"Bearer ." + enc.EncodeToString([]byte(`{"sub":"x"}`)) + ".s",
		"Bearer e30.!!!.s",
		"Bearer e30." + enc.EncodeToString([]byte(`[1,2]`)) + ".s",
		"Bearer e30." + enc.EncodeToString([]byte(`null`)) + ".s",
		"Bearer e30." + enc.EncodeToString([]byte(`{"sub":42}`)) + ".s",
		"Bearer e30." + enc.EncodeToString([]byte(`{}`)) + ".s",
		"Bearer e30." + enc.EncodeToString([]byte(`not json`)) + ".s",
	} {
		p := identity.FromAuthorization(header)
		if p.Authenticated || p.Type != identity.TypeAnonymous || p.ID != "" || p.Verification == identity.Verified {
			t.Errorf("%q: got %+v, want anonymous", header, p)
		}
		if p.Groups == nil || p.Scopes == nil {
			t.Errorf("%q: nil lists", header)
		}
	}
}

// TestTokenLimits: a token is bounded in size, depth and values before its
// claims are decoded, so an unauthenticated caller cannot make the function
// run out of memory; a token within them is read.
func TestTokenLimits(t *testing.T) {
	enc := base64.RawURLEncoding
	tok := func(payload string) string {
		return "Bearer " + enc.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + enc.EncodeToString([]byte(payload)) + ".s"
	}
	groups := make([]string, 300)
	for i := range groups {
		groups[i] = fmt.Sprintf("group-%03d", i)
	}
	big, _ := json.Marshal(map[string]any{"sub": "u", "groups": groups})
	tests := []struct {
		name   string
		header string
		ok     bool
	}{
		{"300 groups", tok(string(big)), true},
		{"just under the size limit", tok(`{"sub":"u","pad":"` + strings.Repeat("p", 24_000) + `"}`), true},
		{"over the size limit", tok(`{"sub":"u","pad":"` + strings.Repeat("p", 25_000) + `"}`), false},
		{"empty objects", tok(`{"sub":"u","x":[` + strings.Repeat(`{},`, 5000) + `{}]}`), false},
		{"nested too deep", tok(`{"sub":"u","x":` + strings.Repeat(`[`, 20) + strings.Repeat(`]`, 20) + `}`), false},
		{"5.6 MB", tok(`{"sub":"u","x":[` + strings.Repeat(`{},`, 1_400_000) + `{}]}`), false},
	}
	for _, tt := range tests {
		p := identity.FromAuthorization(tt.header)
		if p.Authenticated != tt.ok {
			t.Errorf("%s (%d bytes): authenticated %v, want %v (%s)", tt.name, len(tt.header), p.Authenticated, tt.ok, p.Verification)
		}
	}
}

// TestUnverifiedClaimsAreNotShared: the cache of unverified tokens hands
// every caller its own claims.
func TestUnverifiedClaimsAreNotShared(t *testing.T) {
	header := "Bearer " + token(t, map[string]any{"sub": "u-1", "cognito:groups": []string{"sre"}})
	first := identity.FromAuthorization(header)
	first.Claims["sub"] = "someone-else"
	first.Claims["cognito:groups"].([]any)[0] = "platform-admins"
	second := identity.FromAuthorization(header)
	if second.ID != "u-1" || second.Claims["sub"] != "u-1" || second.Groups[0] != "sre" {
		t.Errorf("a changed document changed the cache: %+v", second)
	}
}
