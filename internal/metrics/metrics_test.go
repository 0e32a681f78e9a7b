package metrics_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/decisionlog"
	"github.com/toolgate/toolgate/internal/metrics"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// units CloudWatch accepts.
var units = strings.Fields(`Seconds Microseconds Milliseconds Bytes Kilobytes Megabytes Gigabytes
Terabytes Bits Kilobits Megabits Gigabits Terabits Percent Count Bytes/Second Kilobytes/Second
Megabytes/Second Gigabytes/Second Terabytes/Second Bits/Second Kilobits/Second Megabits/Second
Gigabits/Second Terabits/Second Count/Second None`)

// validate checks one line against the embedded metric format's rules and
// returns its metric values by "Namespace/Name{dim=value,...}".
func validate(t *testing.T, line []byte) map[string]float64 {
	t.Helper()
	var root map[string]json.RawMessage
	if err := json.Unmarshal(line, &root); err != nil {
		t.Fatalf("not a JSON object: %s", line)
	}
	var meta struct {
		Timestamp         *int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name              string `json:"Name"`
				Unit              string `json:"Unit"`
				StorageResolution int    `json:"StorageResolution"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	}
	dec := json.NewDecoder(bytes.NewReader(root["_aws"]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&meta); err != nil {
		t.Fatalf("_aws: %v: %s", err, line)
	}
	if meta.Timestamp == nil || *meta.Timestamp != now.UnixMilli() {
		t.Errorf("Timestamp: want milliseconds since the epoch: %s", line)
	}
	if len(meta.CloudWatchMetrics) == 0 {
		t.Errorf("no metric directive: %s", line)
	}
	str := func(key string) (string, bool) {
		var s string
		err := json.Unmarshal(root[key], &s)
		return s, err == nil
	}
	values := map[string]float64{}
	for _, d := range meta.CloudWatchMetrics {
		if n := len(d.Namespace); n == 0 || n > 255 || strings.TrimSpace(d.Namespace) == "" {
			t.Errorf("Namespace %q", d.Namespace)
		}
		if len(d.Dimensions) == 0 {
			t.Errorf("Dimensions: want at least one dimension set (possibly empty): %s", line)
		}
		if n := len(d.Metrics); n == 0 || n > 100 {
			t.Errorf("Metrics: %d definitions, want 1 to 100: %s", n, line)
		}
		for _, set := range d.Dimensions {
			if len(set) > 30 {
				t.Errorf("dimension set of %d keys, at most 30", len(set))
			}
			var key []string
			for _, name := range set {
				v, ok := str(name)
				if n := len(name); n == 0 || n > 255 || !ok || len(v) == 0 || len(v) > 1024 || strings.TrimSpace(v) == "" {
					t.Errorf("dimension %q: want a member with a non-blank string of at most 1024 characters: %s", name, line)
				}
				key = append(key, name+"="+v)
			}
			for _, m := range d.Metrics {
				if n := len(m.Name); n == 0 || n > 255 {
					t.Errorf("metric name %q", m.Name)
				}
				if m.Unit != "" && !slices.Contains(units, m.Unit) {
					t.Errorf("metric %s: unit %q", m.Name, m.Unit)
				}
				if m.StorageResolution != 0 && m.StorageResolution != 1 && m.StorageResolution != 60 {
					t.Errorf("metric %s: storage resolution %d", m.Name, m.StorageResolution)
				}
				var v float64
				if err := json.Unmarshal(root[m.Name], &v); err != nil {
					t.Errorf("metric %s: want a numeric member: %s", m.Name, line)
				}
				values[fmt.Sprintf("%s/%s{%s}", d.Namespace, m.Name, strings.Join(key, ","))] += v
			}
		}
	}
	return values
}

func collect(t *testing.T, out *bytes.Buffer) map[string]float64 {
	t.Helper()
	all := map[string]float64{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		for k, v := range validate(t, sc.Bytes()) {
			all[k] += v
		}
	}
	return all
}

func TestDecisionMetrics(t *testing.T) {
	var out bytes.Buffer
	e, err := metrics.New(&out, "", nil, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	deny := []decisionlog.Policy{
		{Name: "tool-allow-list", Mode: "enforce", Kind: "violation"},
		{Name: "tool-allow-list", Mode: "enforce", Kind: "violation"}, // a second rule: one denial
		{Name: "risk-ceiling", Mode: "enforce", Kind: "violation"},
		{Name: "audit-unknown-operations", Mode: "audit", Kind: "violation"},
	}
	for _, r := range []decisionlog.Record{
		{Phase: "request", Result: decisionlog.Allow, LatencyUS: 10},
		{Phase: "request", Result: decisionlog.AuditDeny, LatencyUS: 20, Policies: deny[3:]},
		{Phase: "request", Result: decisionlog.Deny, LatencyUS: 30, Policies: deny},
		{Phase: "response", Result: decisionlog.Deny, LatencyUS: 40, Policies: deny[2:3], Repeat: true},
		{Phase: "response", Result: decisionlog.Error, LatencyUS: 50, Policies: []decisionlog.Policy{{Name: "(bundle)", Mode: "enforce", Kind: "error"}}},
		{Phase: "", Result: decisionlog.Deny, LatencyUS: 60, Policies: []decisionlog.Policy{{Name: "(event)", Mode: "enforce", Kind: "error"}}},
	} {
		e.Decision(&r)
	}
	e.BundleLoadFailure()
	got := collect(t, &out)
	want := map[string]float64{
		"Toolgate/Decisions{Phase=request,Result=allow}":      1,
		"Toolgate/Latency{Phase=request,Result=allow}":        10,
		"Toolgate/Decisions{Phase=request,Result=audit_deny}": 1,
		"Toolgate/Latency{Phase=request,Result=audit_deny}":   20,
		"Toolgate/Decisions{Phase=request,Result=deny}":       1,
		"Toolgate/Latency{Phase=request,Result=deny}":         30,
		"Toolgate/Decisions{Phase=response,Result=deny}":      1,
		"Toolgate/Latency{Phase=response,Result=deny}":        40,
		"Toolgate/Decisions{Phase=response,Result=error}":     1,
		"Toolgate/Latency{Phase=response,Result=error}":       50,
		"Toolgate/Decisions{Phase=none,Result=deny}":          1,
		"Toolgate/Latency{Phase=none,Result=deny}":            60,
		"Toolgate/Denials{}":                                  3, // the repeat is not counted again
		"Toolgate/EvaluationErrors{}":                         1,
		"Toolgate/PolicyDenials{Policy=tool-allow-list}":      1,
		"Toolgate/PolicyDenials{Policy=risk-ceiling}":         1,
		"Toolgate/PolicyDenials{Policy=(bundle)}":             1,
		"Toolgate/PolicyDenials{Policy=(event)}":              1,
		"Toolgate/BundleLoadFailures{}":                       1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("metrics\n got %v\nwant %v", got, want)
	}
}

func TestConfiguredDimensions(t *testing.T) {
	var out bytes.Buffer
	e, err := metrics.New(&out, "Toolgate/prod", []string{"Environment", "Operation"}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	e.Decision(&decisionlog.Record{Phase: "request", Result: decisionlog.Allow, Environment: "prod",
		Tool: &decisionlog.Tool{Target: "ops", Name: "restart", Operation: "write"}, LatencyUS: 5})
	e.Decision(&decisionlog.Record{Phase: "request", Result: decisionlog.Allow, Method: "ping", LatencyUS: 7})
	got := collect(t, &out)
	want := map[string]float64{
		"Toolgate/prod/Decisions{Environment=prod,Operation=write}": 1,
		"Toolgate/prod/Latency{Environment=prod,Operation=write}":   5,
		"Toolgate/prod/Decisions{Environment=none,Operation=none}":  1,
		"Toolgate/prod/Latency{Environment=none,Operation=none}":    7,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("metrics\n got %v\nwant %v", got, want)
	}
	if strings.Contains(out.String(), "restart") || strings.Contains(out.String(), "ops") {
		t.Errorf("a tool name reached the metrics: %s", out.String())
	}
}

func TestNewRejects(t *testing.T) {
	for _, tt := range []struct {
		ns   string
		dims []string
	}{
		{"AWS/Lambda", nil},
		{"a:b", nil},
		{" padded", nil},
		{strings.Repeat("n", 256), nil},
		{"", []string{"Principal"}}, // unbounded: not offered
		{"", []string{"Tool"}},
		{"", []string{"Phase", "Phase"}},
	} {
		if _, err := metrics.New(&bytes.Buffer{}, tt.ns, tt.dims, nil); err == nil {
			t.Errorf("New(%q, %v): no error", tt.ns, tt.dims)
		}
	}
	var e *metrics.EMF // nil writes nothing and does not panic
	e.Decision(&decisionlog.Record{})
	e.BundleLoadFailure()
}
