// Package metrics writes CloudWatch metrics as embedded metric format (EMF)
// log records: CloudWatch Logs extracts them from the function's log stream,
// so a decision costs no API call and no network hop.
//
// Every dimension value comes from a closed set (phases, results,
// operations, the deployment's environment, the bundle's policy names), so
// the metrics' cardinality stays bounded: principal ids, tool names and
// other caller-chosen values are never dimensions.
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/decisionlog"
)

// DefaultNamespace is the CloudWatch namespace unless configured.
const DefaultNamespace = "Toolgate"

// Metric names.
const (
	// Decisions counts decisions, by the configured dimensions.
	Decisions = "Decisions"
	// Latency is the decision's latency in microseconds, by the configured
	// dimensions.
	Latency = "Latency"
	// Denials counts denied calls (results deny and error), without
	// dimensions: the RESPONSE point passing on the REQUEST point's denial
	// is not counted again. The denial spike alarm watches it.
	Denials = "Denials"
	// PolicyDenials counts denials by the enforcing policy that failed
	// (dimension Policy).
	PolicyDenials = "PolicyDenials"
	// EvaluationErrors counts decisions that could not be made (result error).
	EvaluationErrors = "EvaluationErrors"
	// BundleLoadFailures counts policy bundles that failed to load.
	BundleLoadFailures = "BundleLoadFailures"
	// RateLimited counts calls denied by a rate limit, by limit (dimension
	// RateLimit, the limit's name; a bundle's limits are few) and in all.
	RateLimited = "RateLimited"
	// StateErrors counts rate-limit counts that could not be read, by
	// limit (dimension RateLimit) and in all: denied, or allowed where the
	// limit fails open; and quarantines or denial counts that could not
	// be read, by containment (dimension Containment).
	StateErrors = "StateErrors"
	// QuarantinesBegun counts the quarantines containments began, by
	// containment (dimension Containment) and in all, audit-only ones
	// included: an alarm says a caller is held, or would be.
	QuarantinesBegun = "QuarantinesBegun"
	// Quarantined counts the messages of callers a containment holds, by
	// containment and in all: denied, or (audit-only) would have been.
	Quarantined = "Quarantined"
	// ToolDefinitionChanged counts the changed tool definitions that
	// lists showed for the first time (each new digest of a tool once,
	// across every instance), without dimensions: the pin alarm.
	ToolDefinitionChanged = "ToolDefinitionChanged"
	// ApprovalsRequested, ApprovalsGranted, ApprovalsRejected and
	// ApprovalsExpired count, without dimensions, the approvals asked for
	// (in band or a new out-of-band request), the calls allowed under one,
	// the calls refused because the approver or the caller said no, and the
	// standing approvals found lapsed.
	ApprovalsRequested = "ApprovalsRequested"
	ApprovalsGranted   = "ApprovalsGranted"
	ApprovalsRejected  = "ApprovalsRejected"
	ApprovalsExpired   = "ApprovalsExpired"
)

// choosable are the dimensions a deployment may choose for Decisions and
// Latency.
var choosable = []string{"Phase", "Result", "Environment", "Operation"}

// DefaultDimensions returns the dimensions of Decisions and Latency unless
// configured.
func DefaultDimensions() []string { return []string{"Phase", "Result"} }

// EMF writes metric records to a writer, one JSON line each. It is safe for
// concurrent use.
type EMF struct {
	namespace  string
	dimensions []string
	// decisionDimensions is the Decisions line's dimension set.
	decisionDimensions [][]string
	now                func() time.Time

	mu   sync.Mutex
	w    io.Writer
	line []byte // the line being written, reused
}

// New returns an EMF writer to w in namespace ("" for DefaultNamespace)
// with the given dimensions for Decisions and Latency (nil for
// DefaultDimensions), each one of Phase, Result, Environment, Operation.
func New(w io.Writer, namespace string, dimensions []string, now func() time.Time) (*EMF, error) {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	if len(namespace) > 255 || strings.TrimSpace(namespace) != namespace || strings.HasPrefix(namespace, "AWS/") || strings.Contains(namespace, ":") {
		return nil, fmt.Errorf("metrics namespace %q: want 1 to 255 characters, no colon, no AWS/ prefix", namespace)
	}
	if dimensions == nil {
		dimensions = DefaultDimensions()
	}
	for i, d := range dimensions {
		if !slices.Contains(choosable, d) {
			return nil, fmt.Errorf("metrics dimension %q: want one of %s", d, strings.Join(choosable, ", "))
		}
		if slices.Contains(dimensions[:i], d) {
			return nil, fmt.Errorf("metrics dimension %q given twice", d)
		}
	}
	if now == nil {
		now = time.Now
	}
	return &EMF{namespace: namespace, dimensions: dimensions, decisionDimensions: [][]string{dimensions}, now: now, w: w}, nil
}

// Metadata is the _aws member of an EMF record.
type Metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []Directive `json:"CloudWatchMetrics"`
}

// Directive tells CloudWatch which members of the record are metrics and
// which are their dimensions.
type Directive struct {
	Namespace  string       `json:"Namespace"`
	Dimensions [][]string   `json:"Dimensions"`
	Metrics    []Definition `json:"Metrics"`
}

// Definition names one metric and its unit.
type Definition struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// Decision writes the metrics of one decision record. Every invocation
// writes its lines, so they are built in fixed arrays, without maps: 16
// allocations for a denial's two lines came to 2.
func (e *EMF) Decision(r *decisionlog.Record) {
	if e == nil {
		return
	}
	var fbuf [12]field
	f := fbuf[:0]
	for _, d := range e.dimensions {
		v := "none"
		switch d {
		case "Phase":
			v = orNone(r.Phase)
		case "Result":
			v = r.Result
		case "Environment":
			v = orNone(r.Environment)
		case "Operation":
			if r.Tool != nil && r.Tool.Operation != "" {
				v = r.Tool.Operation
			}
		}
		f = append(f, text(d, v))
	}
	f = append(f, number(Decisions, 1), number(Latency, r.LatencyUS))
	var dbuf [8]Directive
	directives := append(dbuf[:0], Directive{e.namespace, e.decisionDimensions, decisionMetrics})
	count := func(name string) {
		f = append(f, number(name, 1))
		directives = append(directives, Directive{e.namespace, noDimensions, counted[name]})
	}
	denied := r.Result == decisionlog.Deny || r.Result == decisionlog.Error
	if denied && !r.Repeat {
		count(Denials)
	}
	if r.Result == decisionlog.Error {
		count(EvaluationErrors)
	}
	if a := r.Approval; a != nil {
		switch a.Status {
		case "confirm", "requested":
			count(ApprovalsRequested)
		case "granted":
			count(ApprovalsGranted)
		case "rejected":
			count(ApprovalsRejected)
		}
		if a.Expired {
			count(ApprovalsExpired)
		}
	}
	e.write(f, directives)
	for _, l := range r.RateLimits {
		name := ""
		switch l.Result {
		case decisionlog.RateLimitExceeded:
			name = RateLimited
		case decisionlog.RateLimitError, decisionlog.RateLimitFailOpen:
			name = StateErrors
		default:
			continue
		}
		e.countBy("RateLimit", l.Name, name)
	}
	first := 0
	for _, d := range r.Definitions {
		if d.Status == attributes.DefinitionChanged && d.First {
			first++
		}
	}
	if first > 0 {
		e.write([]field{number(ToolDefinitionChanged, int64(first))},
			[]Directive{{e.namespace, noDimensions, counted[ToolDefinitionChanged]}})
	}
	for _, c := range r.Containment {
		name := ""
		switch c.Result {
		case decisionlog.ContainmentBegan:
			name = QuarantinesBegun
		case decisionlog.ContainmentQuarantined:
			name = Quarantined
		case decisionlog.ContainmentError, decisionlog.ContainmentFailOpen:
			name = StateErrors
		default:
			continue
		}
		e.countBy("Containment", c.Name, name)
	}
	if !denied || r.Repeat {
		return
	}
	// One record per policy: a dimension has one value per record.
	for _, name := range r.DeniedBy() {
		e.write([]field{text("Policy", name), number(PolicyDenials, 1)},
			[]Directive{{e.namespace, byPolicy, counted[PolicyDenials]}})
	}
}

// The parts of directives that every line of a kind shares; read only.
var (
	decisionMetrics = []Definition{{Decisions, "Count"}, {Latency, "Microseconds"}}
	noDimensions    = [][]string{{}}
	byPolicy        = [][]string{{"Policy"}}
	counted         = func() map[string][]Definition {
		m := map[string][]Definition{}
		for _, name := range []string{Denials, PolicyDenials, EvaluationErrors, BundleLoadFailures, RateLimited, StateErrors,
			QuarantinesBegun, Quarantined, ToolDefinitionChanged, ApprovalsRequested, ApprovalsGranted, ApprovalsRejected, ApprovalsExpired} {
			m[name] = []Definition{{name, "Count"}}
		}
		return m
	}()
)

// countBy writes one count of name by dimension (a rate limit's or a
// containment's name: a bundle has few), and in all: an alarm watches the
// total.
func (e *EMF) countBy(dimension, value, name string) {
	e.write([]field{text(dimension, value), number(name, 1)},
		[]Directive{{e.namespace, [][]string{{dimension}, {}}, counted[name]}})
}

// BundleLoadFailure writes one BundleLoadFailures count.
func (e *EMF) BundleLoadFailure() {
	if e == nil {
		return
	}
	e.write([]field{number(BundleLoadFailures, 1)}, []Directive{{e.namespace, noDimensions, counted[BundleLoadFailures]}})
}

func (e *EMF) write(fields []field, directives []Directive) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.line = appendRecord(e.line[:0], fields, Metadata{Timestamp: e.now().UnixMilli(), CloudWatchMetrics: directives})
	_, _ = e.w.Write(e.line) // metrics are best effort; the decision stands
}

// field is one member of a metrics line: a string (a dimension's value)
// or an integer (a metric's).
type field struct {
	key, str string
	num      int64
	isNum    bool
}

func text(key, v string) field         { return field{key: key, str: v} }
func number(key string, v int64) field { return field{key: key, num: v, isNum: true} }

// appendRecord appends fields with the _aws member as one JSON line, in
// the bytes encoding/json writes for the same map (keys sorted, HTML
// escaped), without its reflection or a map. fields are sorted in place;
// their keys are distinct and none is _aws.
func appendRecord(b []byte, fields []field, meta Metadata) []byte {
	slices.SortFunc(fields, func(a, b field) int { return strings.Compare(a.key, b.key) })
	b = append(b, '{')
	aws := false
	for i, f := range fields {
		if !aws && f.key > "_aws" {
			b = append(appendMetadata(append(b, `"_aws":`...), meta), ',')
			aws = true
		}
		b = appendString(b, f.key)
		b = append(b, ':')
		if f.isNum {
			b = strconv.AppendInt(b, f.num, 10)
		} else {
			b = appendString(b, f.str)
		}
		if i < len(fields)-1 {
			b = append(b, ',')
		}
	}
	if !aws {
		if len(fields) > 0 {
			b = append(b, ',')
		}
		b = appendMetadata(append(b, `"_aws":`...), meta)
	}
	return append(b, "}\n"...)
}

func appendMetadata(b []byte, meta Metadata) []byte {
	b = append(b, `{"Timestamp":`...)
	b = strconv.AppendInt(b, meta.Timestamp, 10)
	b = append(b, `,"CloudWatchMetrics":`...)
	b = codec.AppendList(b, meta.CloudWatchMetrics, func(b []byte, d Directive) []byte {
		b = append(b, `{"Namespace":`...)
		b = appendString(b, d.Namespace)
		b = append(b, `,"Dimensions":`...)
		b = codec.AppendList(b, d.Dimensions, func(b []byte, set []string) []byte { return codec.AppendList(b, set, appendString) })
		b = append(b, `,"Metrics":`...)
		b = codec.AppendList(b, d.Metrics, func(b []byte, m Definition) []byte {
			b = append(b, `{"Name":`...)
			b = appendString(b, m.Name)
			b = append(b, `,"Unit":`...)
			b = appendString(b, m.Unit)
			return append(b, '}')
		})
		return append(b, '}')
	})
	return append(b, '}')

}

// appendString appends s as encoding/json writes it. Names and values
// here are nearly always plain ASCII, written as they are; anything else
// goes through encoding/json for its escapes.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// orNone keeps empty dimension values out: CloudWatch rejects them.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
