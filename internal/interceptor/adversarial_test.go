package interceptor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/identity"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/judge"
)

// expectation is one entry of testdata/adversarial/expected.yaml.
type expectation struct {
	Result       string `json:"result"`
	Reason       string `json:"reason"`
	Verification string `json:"verification"`
	Forwards     string `json:"forwards"`
	JWKS         bool   `json:"jwks"`
	// Absent must not appear anywhere in the output: a secret, a hidden
	// tool, bytes a target tried to smuggle.
	Absent string `json:"absent"`
	// Unlogged must not appear in the decision record: the caller's
	// data, a target's text posing as a name.
	Unlogged string `json:"unlogged"`
	// Kind is the attribute document's mcp.kind.
	Kind string `json:"kind"`
}

type adversarialCase struct {
	name    string
	payload []byte
	want    expectation
}

const adversarialDir = "../../testdata/adversarial"

func adversarialCases(t *testing.T) []adversarialCase {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(adversarialDir, "expected.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var expected map[string]expectation
	if err := yaml.UnmarshalStrict(raw, &expected); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(adversarialDir, "*.json"))
	if len(files) < 40 {
		t.Fatalf("%d adversarial events, want at least 40", len(files))
	}
	var cases []adversarialCase
	for _, f := range files {
		name := filepath.Base(f)
		want, ok := expected[name]
		if !ok {
			t.Fatalf("%s has no expectation in expected.yaml", name)
		}
		delete(expected, name)
		payload, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, adversarialCase{name, payload, want})
	}
	for name := range expected {
		t.Fatalf("expected.yaml names %s, which does not exist", name)
	}
	return cases
}

// adversarialHandlers returns the default-bundle handler of production,
// with approvals, and the same with JWT verification against keys.jwks on
// loopback.
func adversarialHandlers(t *testing.T) (plain, verifying *interceptor.Handler) {
	t.Helper()
	jwks, err := os.ReadFile(filepath.Join(adversarialDir, "keys.jwks"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(jwks) }))
	t.Cleanup(srv.Close)
	v, err := identity.NewVerifier(identity.VerifierConfig{JWKSURL: srv.URL,
		Issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE", Audiences: []string{"agent-app"}, TokenUse: "access"})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Approvals are on, in process, as in a deployment: the RESPONSE
	// point's rules for calls that need one are only reached so.
	plain = handlerWith(t, func(c *interceptor.Config) {
		approvals(c, &approval.Memory{})
		c.Now = func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }
		c.NewID = func() string { return testID }
	})
	return plain, handlerWith(t, func(c *interceptor.Config) {
		approvals(c, &approval.Memory{})
		c.Verifier, c.NewID = v, func() string { return testID }
	})
}

// outcome is what a case's result is checked against, and compared between
// sequential and concurrent runs.
func outcome(r judge.Result) string {
	out, _ := json.Marshal(r.Output)
	return fmt.Sprintf("%s|%d|%s|%s", r.Decision.Effect, r.Decision.Code, r.Decision.Reason, out)
}

// TestAdversarial runs testdata/adversarial: hostile and odd events, each
// with the outcome a user relies on.
func TestAdversarial(t *testing.T) {
	plain, verifying := adversarialHandlers(t)
	for _, c := range adversarialCases(t) {
		t.Run(strings.TrimSuffix(c.name, ".json"), func(t *testing.T) {
			h := plain
			if c.want.JWKS {
				h = verifying
			}
			var logs bytes.Buffer
			if c.want.Unlogged != "" {
				h = handlerWith(t, func(cfg *interceptor.Config) {
					approvals(cfg, &approval.Memory{})
					cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
				})
			}
			r := h.Handle(context.Background(), c.payload)
			if err := r.Output.Validate(); err != nil {
				t.Fatalf("invalid output: %v", err)
			}
			if c.want.Unlogged != "" && (logs.Len() == 0 || strings.Contains(logs.String(), c.want.Unlogged)) {
				t.Errorf("the record holds %q, or there is none:\n%s", c.want.Unlogged, logs.String())
			}
			got := map[bool]string{true: "allow", false: "deny"}[r.Decision.Effect == decision.Allow]
			if r.Decision.Code == decision.CodeUndecidable {
				got = "error"
			}
			if got != c.want.Result || !strings.Contains(r.Decision.Reason, c.want.Reason) {
				t.Fatalf("%s %q, want %s %q", got, r.Decision.Reason, c.want.Result, c.want.Reason)
			}
			if out, _ := json.Marshal(r.Output); c.want.Absent != "" && strings.Contains(string(out), c.want.Absent) {
				t.Errorf("output contains %q: %.500s", c.want.Absent, out)
			}
			if c.want.Kind != "" && (r.Document == nil || r.Document.MCP.Kind != c.want.Kind) {
				t.Errorf("mcp.kind: document %+v, want %q", r.Document, c.want.Kind)
			}
			if c.want.Verification != "" {
				if r.Document == nil || r.Document.Principal.Verification != c.want.Verification {
					t.Errorf("verification: document %+v, want %q", r.Document, c.want.Verification)
				}
			}
			if c.want.Forwards != "" {
				var body struct {
					Params struct {
						Name string `json:"name"`
					} `json:"params"`
				}
				if req := r.Output.MCP.TransformedGatewayRequest; req == nil || json.Unmarshal(req.Body, &body) != nil || body.Params.Name != c.want.Forwards {
					t.Errorf("forwards %q, want %q", body.Params.Name, c.want.Forwards)
				}
			}
		})
	}
}

// TestConcurrentHandlers: Lambda may run several invocations at once in one
// execution environment. 64 goroutines share the two handlers, each running
// every adversarial and sample event in its own order; every result must be
// the one a lone invocation gets. Run with -race.
func TestConcurrentHandlers(t *testing.T) {
	plain, verifying := adversarialHandlers(t)
	// The events of a large size are run once each by TestAdversarial;
	// 64 goroutines under -race would take minutes over them and prove
	// nothing more about sharing.
	cases := slices.DeleteFunc(adversarialCases(t), func(c adversarialCase) bool { return len(c.payload) > 64<<10 })
	files, _ := filepath.Glob("../../testdata/events/*.json")
	for _, f := range files {
		payload, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, adversarialCase{name: f, payload: payload})
	}
	handler := func(c adversarialCase) *interceptor.Handler {
		if c.want.JWKS {
			return verifying
		}
		return plain
	}
	want := make([]string, len(cases))
	for i, c := range cases {
		want[i] = outcome(handler(c).Handle(context.Background(), c.payload))
	}
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			order := rand.New(rand.NewPCG(uint64(g), 1)).Perm(len(cases))
			for _, i := range order {
				c := cases[i]
				if got := outcome(handler(c).Handle(context.Background(), c.payload)); got != want[i] {
					t.Errorf("goroutine %d, %s:\n got %.300s\nwant %.300s", g, c.name, got, want[i])
				}
			}
		})
	}
	wg.Wait()
	if !slices.ContainsFunc(want, func(s string) bool { return strings.HasPrefix(s, "allow") }) {
		t.Fatal("no case allowed: the comparison proves little")
	}
}
