package metrics

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
)

// TestAppendRecordIsEncodingJSON: a metrics line is byte for byte what
// encoding/json writes for the same map, odd strings included, in any
// order of its fields.
func TestAppendRecordIsEncodingJSON(t *testing.T) {
	odd := []string{"", "plain", `quote"back\slash`, "<b>&amp;", "tab\tnew\nline\x00\x1f", "del\x7f", "é ü 日本",
		"\u2028\u2029", "bad \xff utf-8", "(event)"}
	meta := Metadata{Timestamp: 1796651549530, CloudWatchMetrics: []Directive{
		{"Toolgate", [][]string{{"Phase", "Result"}, {}}, []Definition{{"Decisions", "Count"}, {"Latency", "Microseconds"}}},
		{"odd<ns>", [][]string{nil}, nil},
		{"Toolgate", nil, []Definition{}},
	}}
	for _, s := range odd {
		for _, fields := range [][]field{
			{},
			{number("Decisions", 1), number("Latency", -447), text("Phase", s), text("Result", "deny"), number("Denials", 1)},
			{number(s+"x", 1), text("Policy", s), number("PolicyDenials", 1), text("Z", "z"), text("a", "a"), text("_b", "b"), text("`", "c")},
		} {
			rec := map[string]any{"_aws": meta}
			for _, f := range fields {
				if f.isNum {
					rec[f.key] = f.num
				} else {
					rec[f.key] = f.str
				}
			}
			want, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			reversed := slices.Clone(fields)
			slices.Reverse(reversed)
			for _, in := range [][]field{fields, reversed} {
				if got := appendRecord(nil, in, meta); !bytes.Equal(got, append(want, '\n')) {
					t.Errorf("%q:\n got %s\nwant %s", s, got, want)
				}
			}
		}
	}
}
