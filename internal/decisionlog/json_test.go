package decisionlog_test

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/decisionlog"
)

// oddStrings are what JSON escaping can get wrong: quotes, control bytes
// (slog and encoding/json write \b and \f differently), HTML, invalid
// UTF-8, a surrogate, U+2028, U+2029 and U+FFFD itself.
var oddStrings = []string{
	"", "a", "deny", `"`, `\`, "\n\r\t", "\b\f", "\x00\x01\x1f\x7f", "<script>&amp;</script>",
	"\u2028\u2029", "\xff\xfe", "a\xc3(b", "\xed\xa0\x80", "\ufffd", "é日本語", "👩‍💻", "tool___name",
}

func oddString(rng *rand.Rand) string {
	var b strings.Builder
	for range rng.IntN(4) {
		b.WriteString(oddStrings[rng.IntN(len(oddStrings))])
	}
	return b.String()
}

// randomRecord fills each field, or leaves it empty, at random.
func randomRecord(rng *rand.Rand) decisionlog.Record {
	s := func() string {
		if rng.IntN(3) == 0 {
			return ""
		}
		return oddString(rng)
	}
	n := func() int64 { return []int64{0, 1, -1, 42, 1 << 53, -1 << 63}[rng.IntN(6)] }
	strs := func() []string {
		switch rng.IntN(3) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		return []string{s(), s()}
	}
	some := func() bool { return rng.IntN(2) == 0 }
	r := decisionlog.Record{
		SchemaVersion: int(n()), DecisionID: s(), TraceID: s(), RequestID: s(), SessionID: s(),
		Phase: s(), Method: s(), Environment: s(), Result: s(), Repeat: some(), RepeatOf: s(),
		Reason: s(), Code: int(n()), ArgsSHA256: s(), ToolsHidden: int(n()), Hidden: strs(),
		DefinitionsChanged: int(n()), ApprovalRequired: some(), LatencyUS: n(),
		Bundle: decisionlog.Bundle{Source: s(), Digest: s(), Version: s(), ETag: s()},
	}
	if some() {
		r.Principal = &decisionlog.Principal{ID: s(), Type: s(), ClientID: s(), Actor: s(), Username: s(), Groups: strs(), Verification: s()}
	}
	if some() {
		r.Tool = &decisionlog.Tool{Target: s(), Name: s(), Operation: s(), Risk: s()}
	}
	for range rng.IntN(3) {
		r.Policies = append(r.Policies, decisionlog.Policy{Name: s(), Rule: s(), Mode: s(), Kind: s(), Message: s(), Detail: s()})
		r.Bundle.Layers = append(r.Bundle.Layers, decisionlog.Layer{Source: s(), Digest: s()})
		r.RateLimits = append(r.RateLimits, decisionlog.RateLimit{Name: s(), Result: s(), Count: n(), Limit: n()})
		r.Containment = append(r.Containment, decisionlog.Containment{Name: s(), Mode: s(), Result: s(), Count: n(), Threshold: n(), Until: s()})
		r.Definitions = append(r.Definitions, decisionlog.Definition{Tool: s(), Status: s(), Pin: s(), Digest: s(), First: some()})
	}
	if some() {
		r.Redactions = map[string]int{}
		for range rng.IntN(4) {
			r.Redactions[s()] = int(n())
		}
	}
	if some() {
		r.Arguments = map[string]any{s(): s(), "n": 1.5, "list": []any{s(), nil, true}}
	}
	if some() {
		r.Approval = &decisionlog.Approval{Status: s(), Channel: s(), ID: s(), Expired: some()}
		if some() {
			r.Approval.Groups = [][]string{strs(), strs()}
		}
	}
	if some() {
		r.Approved = &decisionlog.Approved{By: s(), At: s(), ID: s(), Channel: s(), Comment: s()}
	}
	return r
}

// TestAppendJSONIsSlogs: the record's own encoding is byte for byte what
// slog's JSON handler writes for it, on records of every shape and odd
// strings in every field.
func TestAppendJSONIsSlogs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		rec := randomRecord(rng)
		var buf bytes.Buffer
		r := slog.NewRecord(time.Time{}, slog.LevelInfo, decisionlog.Message, 0)
		r.AddAttrs(slog.Any("", &rec))
		if err := slog.NewJSONHandler(&buf, nil).Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		want, ok := bytes.CutPrefix(buf.Bytes(), []byte(`{"level":"INFO","msg":"decision",`))
		if !ok {
			t.Fatalf("slog wrote %s", buf.Bytes())
		}
		want = bytes.TrimSuffix(want, []byte("}\n"))
		if got := rec.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("record %d (%+v):\n got %s\nwant %s", i, rec, got, want)
		}
	}
}

// TestAppendJSONHasEveryField: a record with every field set, found by
// reflection, encodes as slog writes it; so a field added to the record
// and to LogValue but not to AppendJSON fails here instead of vanishing
// from the log.
func TestAppendJSONHasEveryField(t *testing.T) {
	var rec decisionlog.Record
	fill(reflect.ValueOf(&rec).Elem())
	var buf bytes.Buffer
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, decisionlog.Message, 0)
	r.AddAttrs(slog.Any("", &rec))
	if err := slog.NewJSONHandler(&buf, nil).Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSuffix(strings.TrimPrefix(buf.String(), `{"level":"INFO","msg":"decision",`), "}\n")
	if got := string(rec.AppendJSON(nil)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// fill sets every field of v, and of what it holds, to a value that is
// not its zero.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i))
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		if e.Kind() == reflect.Interface {
			e.Set(reflect.ValueOf("y"))
		} else {
			fill(e)
		}
		v.SetMapIndex(k, e)
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	rec := decisionlog.Record{
		SchemaVersion: 1, DecisionID: "0123456789abcdef0123456789abcdef", TraceID: "1-6741b2a0-0123456789abcdef01234567",
		RequestID: "c6af9ac6-7b61-11e6-9a41-93e812345678", Phase: "request", Method: "tools/call",
		Principal:   &decisionlog.Principal{ID: "u-bob", Type: "user", ClientID: "agent-app", Username: "bob", Groups: []string{"developers"}, Verification: "gateway"},
		Tool:        &decisionlog.Tool{Target: "k8s", Name: "delete-pod", Operation: "delete", Risk: "high"},
		Environment: "production", Result: decisionlog.Deny, Reason: "destructive tool k8s___delete-pod in production", Code: -32001,
		Policies:   []decisionlog.Policy{{Name: "deny-destructive-in-production", Rule: "no-destructive", Mode: "enforce", Kind: "violation", Message: "destructive tool k8s___delete-pod in production"}},
		Bundle:     decisionlog.Bundle{Source: "embedded", Digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
		ArgsSHA256: "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", LatencyUS: 57,
	}
	b.Run("slog", func(b *testing.B) {
		h := slog.NewJSONHandler(discard{}, nil)
		for b.Loop() {
			r := slog.NewRecord(time.Time{}, slog.LevelInfo, decisionlog.Message, 0)
			r.AddAttrs(slog.Any("", &rec))
			_ = h.Handle(context.Background(), r)
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf = rec.AppendJSON(buf[:0])
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
