// Package testutil holds what the tests of several packages share. Only
// tests import it.
package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

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
