package app_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/toolgate/toolgate/internal/app"
	"github.com/toolgate/toolgate/internal/decisionlog"
)

// TestRecordLinesAreSlogs: the logger writes a decision record, which it
// encodes itself, byte for byte as slog's JSON handler in Lambda's format
// would, at every level and time; and every other line through slog.
func TestRecordLinesAreSlogs(t *testing.T) {
	full := decisionlog.Record{
		SchemaVersion: 1, DecisionID: "d-1", TraceID: "1-6741b2a0-0123", RequestID: "req\u2028", Phase: "request", Method: "tools/call",
		Principal: &decisionlog.Principal{ID: "u", Groups: []string{"a\bb", "<c>"}},
		Tool:      &decisionlog.Tool{Target: "k8s", Name: "delete-pod"},
		Result:    decisionlog.Deny, Reason: "no \"quotes\"\n\x01", Code: -32001,
		Policies:  []decisionlog.Policy{{Name: "p", Mode: "enforce", Kind: "violation", Message: "m\f"}},
		Bundle:    decisionlog.Bundle{Source: "embedded", Digest: "sha256:ab", Layers: []decisionlog.Layer{{Source: "s", Digest: "d"}}},
		Arguments: map[string]any{"q": "x<y", "n": 2.0}, Redactions: map[string]int{"jwt": 1, "email": 2},
		ApprovalRequired: true, LatencyUS: 57,
	}
	minimal := decisionlog.Record{SchemaVersion: 1, DecisionID: "d", Phase: "request", Result: decisionlog.Allow}
	times := []time.Time{
		time.Date(2026, 12, 7, 23, 55, 49, 120000000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", -5*3600)),
		time.Now(), // with a monotonic reading, which slog strips
		{},         // none: slog writes no timestamp
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	opts := &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: lambdacontext.ReplaceAttr}
	for _, rec := range []*decisionlog.Record{&full, &minimal} {
		for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
			for _, at := range times {
				var got, want bytes.Buffer
				r := slog.NewRecord(at, level, decisionlog.Message, 0)
				r.AddAttrs(slog.Any("", rec))
				if err := app.Logger(&got, slog.LevelDebug, false).Handler().Handle(context.Background(), r); err != nil {
					t.Fatal(err)
				}
				if err := slog.NewJSONHandler(&want, opts).Handle(context.Background(), r); err != nil {
					t.Fatal(err)
				}
				if got.String() != want.String() {
					t.Errorf("got  %s\nwant %s", got.Bytes(), want.Bytes())
				}
			}
		}
	}
	// Other lines, and lines of a derived logger, are slog's own.
	var got, want bytes.Buffer
	logger := app.Logger(&got, slog.LevelInfo, false)
	ref := slog.New(slog.NewJSONHandler(&want, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: lambdacontext.ReplaceAttr}))
	for _, l := range []*slog.Logger{logger, ref} {
		l.Info("bundle loaded", "digest", "sha256:ab")
		l.Info(decisionlog.Message, "not", "a record")
		l.With("environment", "production").Info(decisionlog.Message, slog.Any("", &minimal))
		l.Debug(decisionlog.Message, slog.Any("", &minimal)) // below the level: not written
	}
	if g, w := stripTimes(got.Bytes()), stripTimes(want.Bytes()); !bytes.Equal(g, w) {
		t.Errorf("got\n%s\nwant\n%s", g, w)
	}
}

// stripTimes drops the timestamp member of each line, which two loggers
// write at different instants.
func stripTimes(b []byte) []byte {
	var out []byte
	for line := range bytes.Lines(b) {
		if i := bytes.Index(line, []byte(`"timestamp":"`)); i >= 0 {
			j := bytes.IndexByte(line[i+len(`"timestamp":"`):], '"')
			line = append(bytes.Clone(line[:i]), line[i+len(`"timestamp":"`)+j+2:]...)
		}
		out = append(out, line...)
	}
	return out
}
