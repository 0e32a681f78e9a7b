// Package testutil holds what the tests of several packages share. Only
// tests import it.
package testutil

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/toolgate/toolgate/internal/trace"
)

// Buffer is an io.Writer that a test may read while others write to it:
// a handler's log written from many goroutines, a child process's output
// copied from a pipe.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written and not yet taken.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Take returns what was written since the last Take, and forgets it.
func (b *Buffer) Take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	b.buf.Reset()
	return s
}

// SignJWT signs claims as a compact JWT with key and alg.
func SignJWT(t testing.TB, key jose.JSONWebKey, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Event returns the sample event testdata/events/name.
func Event(t testing.TB, name string) []byte {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// LambdaTrace returns a context carrying header as the invocation's trace
// header, where aws-lambda-go puts it.
func LambdaTrace(header string) context.Context {
	//lint:ignore SA1029 aws-lambda-go puts the trace header under this string key
	return context.WithValue(context.Background(), trace.HeaderKey, header)
}

// Concurrently calls f from goroutines goroutines, times times each, as a
// Lambda instance serving concurrent invocations would, and waits for all.
func Concurrently(goroutines, times int, f func()) {
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range times {
				f()
			}
		})
	}
	wg.Wait()
}

// CheckJSONLines fails t for every line of logs that is not JSON, as every
// line the function writes must be.
func CheckJSONLines(t testing.TB, logs string) {
	t.Helper()
	for line := range strings.Lines(logs) {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %s", line)
		}
	}
}

// Issuer is the iss of the tokens an IdP signs.
const Issuer = "https://idp.test"

// IdP is an identity provider on loopback: a JWKS endpoint at URL and the
// key it publishes, which signs people's tokens (Cognito access tokens of
// client agent-app).
type IdP struct {
	URL string
	Key jose.JSONWebKey
}

// NewIdP starts an IdP with a fresh ES256 key, stopped when t ends.
func NewIdP(t testing.TB) *IdP {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &IdP{Key: jose.JSONWebKey{Key: k, KeyID: "k1", Algorithm: string(jose.ES256), Use: "sig"}}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{p.Key.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(jwks) }))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// Token signs a person's token (sub, username, groups) valid for an hour;
// extra claims replace those, and a nil one removes it.
func (p *IdP) Token(t testing.TB, sub string, groups []string, extra map[string]any) string {
	t.Helper()
	claims := map[string]any{"iss": Issuer, "sub": sub, "username": sub, "client_id": "agent-app",
		"token_use": "access", "cognito:groups": groups, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	for k, v := range extra {
		if v == nil {
			delete(claims, k)
			continue
		}
		claims[k] = v
	}
	return SignJWT(t, p.Key, jose.ES256, claims)
}

// DefaultBundleInCEL returns the default bundle with its kyverno-json
// policies replaced by their CEL twins, testdata/bundles/default-cel: the
// same policy names, catalog, limits, redaction and tests, so that both
// dialects can be held to the same decisions.
func DefaultBundleInCEL(t testing.TB, defaults fs.FS) fs.FS {
	t.Helper()
	out := fstest.MapFS{}
	err := fs.WalkDir(defaults, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(defaults, p)
		if err != nil {
			return err
		}
		if !strings.Contains(string(data), "apiVersion: json.kyverno.io/") {
			out[p] = &fstest.MapFile{Data: data}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, here, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(here), "..", "..", "testdata", "bundles", "default-cel")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: %v", dir, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out["cel/"+filepath.Base(f)] = &fstest.MapFile{Data: data}
	}
	return out
}
