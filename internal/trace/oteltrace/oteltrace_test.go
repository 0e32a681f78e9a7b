package oteltrace_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	collector "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/toolgate/toolgate/internal/app"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/testutil"
	"github.com/toolgate/toolgate/internal/trace/oteltrace"
	"github.com/toolgate/toolgate/policies"
)

const (
	root   = "1-6741b2a0-0123456789abcdef01234567"
	parent = "53995c3f42cd8ad8"
)

// collectorServer is a loopback OTLP/HTTP receiver, as the ADOT collector
// extension listens on localhost:4318: it decodes every export request.
type collectorServer struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
	posts int
}

func newCollector(t *testing.T) *collectorServer {
	c := &collectorServer{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req collector.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, &req) != nil {
			t.Errorf("not an OTLP export: %s %s", r.URL.Path, r.Header.Get("Content-Type"))
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.posts++
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				c.spans = append(c.spans, ss.Spans...)
			}
		}
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&collector.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(c.srv.Close)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", c.srv.URL)
	return c
}

func (c *collectorServer) received() ([]*tracepb.Span, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.spans), c.posts
}

func handler(t testing.TB, logs io.Writer) *app.Handler {
	t.Helper()
	h, err := app.NewHandler(func(string) string { return "" }, policies.FS, logs, oteltrace.New)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func traced(sampled string) context.Context {
	return testutil.LambdaTrace("Root=" + root + ";Parent=" + parent + ";Sampled=" + sampled)
}

func attr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value.GetStringValue()
		}
	}
	return ""
}

// TestSampledInvocationIsTraced: a sampled decision's spans are exported
// before Handle returns (Lambda may freeze the process after the answer),
// in one request, in the invocation's trace under the function's segment,
// with a child per step and the decision's attributes.
func TestSampledInvocationIsTraced(t *testing.T) {
	c := newCollector(t)
	var logs bytes.Buffer
	r := handler(t, &logs).Handle(traced("1"), testutil.Event(t, "denied-delete-production.json"))
	if r.Decision.Effect != decision.Deny {
		t.Fatalf("decision %+v", r.Decision)
	}
	spans, posts := c.received() // no waiting: sent before the answer
	if posts != 1 {
		t.Fatalf("%d export requests when Handle returned, want 1\n%s", posts, logs.String())
	}
	var top *tracepb.Span
	var steps []string
	for _, s := range spans {
		if hex.EncodeToString(s.TraceId) != strings.ReplaceAll(strings.TrimPrefix(root, "1-"), "-", "") {
			t.Errorf("span %s in trace %x", s.Name, s.TraceId)
		}
		if s.Name == "toolgate" {
			top = s
		}
	}
	if top == nil || hex.EncodeToString(top.ParentSpanId) != parent || top.EndTimeUnixNano < top.StartTimeUnixNano {
		t.Fatalf("no toolgate span under the function's segment: %+v", spans)
	}
	want := map[string]string{"result": "deny", "phase": "request", "decision_id": r.Decision.ID,
		"tool": r.Document.Tool.QualifiedName, "policy": "no-destructive-in-production"}
	for k, v := range want {
		if got := attr(top, k); got != v {
			t.Errorf("attribute %s = %q, want %q", k, got, v)
		}
	}
	for _, s := range spans {
		if s == top {
			continue
		}
		if !bytes.Equal(s.ParentSpanId, top.SpanId) || s.StartTimeUnixNano < top.StartTimeUnixNano || s.EndTimeUnixNano > top.EndTimeUnixNano {
			t.Errorf("step %s outside the toolgate span", s.Name)
		}
		steps = append(steps, s.Name)
	}
	slices.Sort(steps)
	if !slices.Equal(steps, []string{"attributes", "decode", "evaluate", "respond"}) {
		t.Errorf("steps %v", steps)
	}
	if !strings.Contains(logs.String(), `"trace_id":"`+root+`"`) {
		t.Errorf("decision record lacks the trace id:\n%s", logs.String())
	}
}

// TestUntracedInvocations: an unsampled trace, or none, exports nothing.
func TestUntracedInvocations(t *testing.T) {
	c := newCollector(t)
	for name, ctx := range map[string]context.Context{"unsampled": traced("0"), "no header": context.Background()} {
		var logs bytes.Buffer
		if r := handler(t, &logs).Handle(ctx, testutil.Event(t, "allowed-call.json")); r.Decision.Effect != decision.Allow {
			t.Errorf("%s: %+v", name, r.Decision)
		}
		if n := strings.Count(logs.String(), `"message":"decision"`); n != 1 || strings.Contains(logs.String(), "otel") {
			t.Errorf("%s: logs:\n%s", name, logs.String())
		}
	}
	if spans, posts := c.received(); posts != 0 || len(spans) != 0 {
		t.Errorf("exported %d spans in %d requests", len(spans), posts)
	}
}

// TestNoCollector: with nothing listening, sampled invocations are still
// decided, concurrently; the failed exports are logged as JSON warnings.
func TestNoCollector(t *testing.T) {
	c := newCollector(t)
	c.srv.Close()
	var logs testutil.Buffer
	h := handler(t, &logs)
	payload := testutil.Event(t, "denied-delete-production.json")
	testutil.Concurrently(8, 4, func() {
		if r := h.Handle(traced("1"), payload); r.Decision.Effect != decision.Deny || r.Output.Validate() != nil {
			t.Errorf("%+v", r.Decision)
		}
	})
	testutil.CheckJSONLines(t, logs.String())
	if !strings.Contains(logs.String(), `"message":"otel: spans not exported"`) {
		t.Errorf("failed exports not logged:\n%s", logs.String())
	}
}

func TestFromHeader(t *testing.T) {
	for _, tc := range []struct {
		header          string
		ok, sampled     bool
		traceID, spanID string
	}{
		{"Root=1-6741b2a0-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1", true, true, "6741b2a00123456789abcdef01234567", "53995c3f42cd8ad8"},
		{"Root=1-6741b2a0-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=0", true, false, "6741b2a00123456789abcdef01234567", "53995c3f42cd8ad8"},
		{" Sampled=1 ; Parent=53995c3f42cd8ad8 ; Root=1-6741b2a0-0123456789abcdef01234567 ", true, true, "6741b2a00123456789abcdef01234567", "53995c3f42cd8ad8"},
		{"Root=1-6741b2a0-0123456789abcdef01234567;Sampled=1", false, false, "", ""},               // no parent
		{"Parent=53995c3f42cd8ad8;Sampled=1", false, false, "", ""},                                // no root
		{"Root=2-6741b2a0-0123456789abcdef01234567;Parent=53995c3f42cd8ad8", false, false, "", ""}, // another version
		{"Root=1-6741b2a0-0123456789abcdef0123456z;Parent=53995c3f42cd8ad8", false, false, "", ""}, // not hex
		{"Root=1-00000000-000000000000000000000000;Parent=53995c3f42cd8ad8", false, false, "", ""}, // the invalid all-zero id
		{"Root=1-6741b2a0-0123456789abcdef01234567;Parent=53995c3f", false, false, "", ""},
		{"", false, false, "", ""},
	} {
		sc, ok := oteltrace.FromHeader(tc.header)
		if ok != tc.ok || ok && (sc.IsSampled() != tc.sampled || sc.TraceID().String() != tc.traceID || sc.SpanID().String() != tc.spanID || !sc.IsRemote()) {
			t.Errorf("FromHeader(%q) = %v %v", tc.header, sc, ok)
		}
	}
}

// BenchmarkHandler2KB: the handler with OpenTelemetry, unsampled (the
// common case) and sampled with a collector on loopback (one export per
// invocation, before the answer).
func BenchmarkHandler2KB(b *testing.B) {
	payload := testutil.Event(b, "allowed-call-2kb.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	defer srv.Close()
	b.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	h := handler(b, io.Discard)
	for _, bm := range []struct {
		name string
		ctx  context.Context
	}{{"tracing=otel/unsampled", traced("0")}, {"tracing=otel/sampled", traced("1")}} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := h.Handle(bm.ctx, payload); r.Decision.Effect != decision.Allow {
					b.Fatal(r.Decision)
				}
			}
		})
	}
}
