package xraytrace_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-xray-sdk-go/xray"

	"github.com/toolgate/toolgate/internal/app"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/testutil"
	"github.com/toolgate/toolgate/internal/trace/xraytrace"
	"github.com/toolgate/toolgate/policies"
)

const root = "1-6741b2a0-0123456789abcdef01234567"

// daemon is a loopback stand-in for the X-Ray daemon: a UDP socket that
// collects what the SDK sends, as the real daemon would receive it.
type daemon struct {
	conn *net.UDPConn
}

func newDaemon(t *testing.T) *daemon {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := xray.Configure(xray.Config{DaemonAddr: conn.LocalAddr().String()}); err != nil {
		t.Fatal(err)
	}
	return &daemon{conn: conn}
}

// segment is the part of an X-Ray (sub)segment document the tests read.
type segment struct {
	Name        string            `json:"name"`
	TraceID     string            `json:"trace_id"`
	ParentID    string            `json:"parent_id"`
	Type        string            `json:"type"`
	StartTime   float64           `json:"start_time"`
	EndTime     float64           `json:"end_time"`
	Annotations map[string]any    `json:"annotations"`
	Subsegments []json.RawMessage `json:"subsegments"`
}

// receive returns the documents that arrive within wait.
func (d *daemon) receive(t *testing.T, wait time.Duration) []segment {
	t.Helper()
	var out []segment
	buf := make([]byte, 64*1024)
	for {
		_ = d.conn.SetReadDeadline(time.Now().Add(wait))
		n, err := d.conn.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		head, doc, ok := bytes.Cut(buf[:n], []byte("\n"))
		if !ok || !bytes.Contains(head, []byte(`"format": "json"`)) {
			t.Fatalf("not an X-Ray daemon packet: %q", buf[:n])
		}
		var s segment
		if err := json.Unmarshal(doc, &s); err != nil {
			t.Fatalf("segment %s: %v", doc, err)
		}
		out = append(out, s)
	}
}

func handler(t testing.TB, logs *bytes.Buffer) *app.Handler {
	t.Helper()
	h, err := app.NewHandler(func(string) string { return "" }, policies.FS, logs, xraytrace.New)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func traced(sampled string) context.Context {
	return testutil.LambdaTrace("Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=" + sampled)
}

// TestSampledInvocationIsTraced: one sampled decision sends one subsegment
// of the invocation's trace, with a child per step and the decision's
// annotations, and the decision record names the same trace.
func TestSampledInvocationIsTraced(t *testing.T) {
	d := newDaemon(t)
	var logs bytes.Buffer
	r := handler(t, &logs).Handle(traced("1"), testutil.Event(t, "denied-delete-production.json"))
	if r.Decision.Effect != decision.Deny {
		t.Fatalf("decision %+v", r.Decision)
	}
	segs := d.receive(t, 2*time.Second)
	if len(segs) != 1 {
		t.Fatalf("got %d documents, want 1: %+v", len(segs), segs)
	}
	s := segs[0]
	if s.Name != "toolgate" || s.TraceID != root || s.ParentID != "53995c3f42cd8ad8" || s.Type != "subsegment" || s.EndTime < s.StartTime {
		t.Errorf("subsegment %+v", s)
	}
	want := map[string]any{"result": "deny", "phase": "request", "decision_id": r.Decision.ID,
		"tool": r.Document.Tool.QualifiedName, "policy": "no-destructive-in-production"}
	for k, v := range want {
		if s.Annotations[k] != v {
			t.Errorf("annotation %s = %v, want %v", k, s.Annotations[k], v)
		}
	}
	var steps []string
	for _, raw := range s.Subsegments {
		var c segment
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		if c.EndTime < c.StartTime || c.StartTime < s.StartTime || c.EndTime > s.EndTime {
			t.Errorf("step %s outside its parent: %+v", c.Name, c)
		}
		steps = append(steps, c.Name)
	}
	slices.Sort(steps)
	if !slices.Equal(steps, []string{"attributes", "decode", "evaluate", "respond"}) {
		t.Errorf("steps %v", steps)
	}
	if !strings.Contains(logs.String(), `"trace_id":"`+root+`"`) {
		t.Errorf("decision record lacks the trace id:\n%s", logs.String())
	}
}

// TestUntracedInvocations: an unsampled trace, or none at all, sends
// nothing and logs nothing but the decision.
func TestUntracedInvocations(t *testing.T) {
	d := newDaemon(t)
	for name, ctx := range map[string]context.Context{"unsampled": traced("0"), "no header": context.Background()} {
		var logs bytes.Buffer
		r := handler(t, &logs).Handle(ctx, testutil.Event(t, "allowed-call.json"))
		if r.Decision.Effect != decision.Allow {
			t.Errorf("%s: %+v", name, r.Decision)
		}
		if segs := d.receive(t, 300*time.Millisecond); len(segs) != 0 {
			t.Errorf("%s: sent %+v", name, segs)
		}
		if n := strings.Count(logs.String(), `"message":"decision"`); n != 1 || strings.Contains(logs.String(), "xray") {
			t.Errorf("%s: logs:\n%s", name, logs.String())
		}
	}
}

// TestNoDaemon: with nothing listening at the daemon address, sampled
// invocations are still decided, concurrently and under the race detector.
func TestNoDaemon(t *testing.T) {
	d := newDaemon(t)
	d.conn.Close() // the port is now closed: sends fail with ECONNREFUSED
	var logs bytes.Buffer
	h := handler(t, &logs)
	payload := testutil.Event(t, "denied-delete-production.json")
	testutil.Concurrently(16, 8, func() {
		if r := h.Handle(traced("1"), payload); r.Decision.Effect != decision.Deny || r.Output.Validate() != nil {
			t.Errorf("%+v", r.Decision)
		}
	})
	// The failed sends are reported in the log, as JSON like every line.
	testutil.CheckJSONLines(t, logs.String())
}

func BenchmarkHandler2KB(b *testing.B) {
	payload := testutil.Event(b, "allowed-call-2kb.json")
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	go func() { // drain, as the daemon would
		buf := make([]byte, 64*1024)
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
		}
	}()
	if err := xray.Configure(xray.Config{DaemonAddr: conn.LocalAddr().String()}); err != nil {
		b.Fatal(err)
	}
	nop, err := app.NewHandler(func(string) string { return "" }, policies.FS, &bytes.Buffer{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	xr := handler(b, &bytes.Buffer{})
	for _, bm := range []struct {
		name string
		h    *app.Handler
		ctx  context.Context
	}{
		{"tracing=none", nop, traced("1")},
		{"tracing=xray/unsampled", xr, traced("0")},
		{"tracing=xray/sampled", xr, traced("1")},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bm.h.Invoke(bm.ctx, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
