package metrics

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// TestAppendRecordIsEncodingJSON: a metrics line is byte for byte what
// encoding/json writes for the same map, odd strings included.
func TestAppendRecordIsEncodingJSON(t *testing.T) {
	odd := []string{"", "plain", `quote"back\slash`, "<b>&amp;", "tab\tnew\nline\x00\x1f", "del\x7f", "é ü 日本",
		"\u2028\u2029", "bad \xff utf-8", "(event)"}
	meta := Metadata{Timestamp: 1796651549530, CloudWatchMetrics: []Directive{
		{"Toolgate", [][]string{{"Phase", "Result"}, {}}, []Definition{{"Decisions", "Count"}, {"Latency", "Microseconds"}}},
		{"odd<ns>", [][]string{nil}, nil},
		{"Toolgate", nil, []Definition{}},
	}}
	for _, s := range odd {
		for _, rec := range []map[string]any{
			{},
			{"Decisions": 1, "Latency": int64(-447), "Phase": s, "Result": "deny", "Denials": 1},
			{s: 1, "Policy": s, "PolicyDenials": 1, "Z": "z", "a": "a", "_b": "b"},
		} {
			want, err := json.Marshal(withMeta(rec, meta))
			if err != nil {
				t.Fatal(err)
			}
			if got := appendRecord(nil, rec, meta); !bytes.Equal(got, append(want, '\n')) {
				t.Errorf("%q:\n got %s\nwant %s", s, got, want)
			}
		}
	}
}

// TestAppendRecordUnencodable: a value encoding/json refuses gives no
// line, not a broken one.
func TestAppendRecordUnencodable(t *testing.T) {
	for _, v := range []any{math.NaN(), math.Inf(1), make(chan int)} {
		if got := appendRecord(nil, map[string]any{"Decisions": 1, "Latency": v}, Metadata{Timestamp: 1}); got != nil {
			t.Errorf("%v: %s", v, got)
		}
	}
}

func withMeta(rec map[string]any, meta Metadata) map[string]any {
	all := map[string]any{"_aws": meta}
	for k, v := range rec {
		all[k] = v
	}
	return all
}
