// Package ratelimit enforces a bundle's RateLimit documents: how many calls
// that match a Kyverno JSON match on the attribute document may be made per
// key (built from document fields: the principal, the actor, the tool...)
// and per window, counted in a state.Counter that every Lambda instance
// shares. AgentCore Gateway's native rate limits count requests per caller;
// these count what only the attribute document knows: operation classes,
// risk, actors, catalog labels.
//
// It also enforces Containment documents: a count of one caller's
// denials that, past a threshold, holds the caller in quarantine (see
// ContainmentSpec), kept in the same table under the same rules.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"

	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/state"
)

// Spec is the spec of a RateLimit document; the document's metadata.name
// names the limit.
type Spec struct {
	// Match and Exclude select the calls the limit counts, as in a
	// ValidatingPolicy rule; without them it counts every call.
	Match   *v1alpha1.Match `json:"match,omitempty"`
	Exclude *v1alpha1.Match `json:"exclude,omitempty"`
	// Key names the document fields whose values make a call's key, dotted
	// ("principal.id", "tool.qualifiedName"): one count per key. Empty: one
	// count for every call the limit matches.
	Key []string `json:"key,omitempty"`
	// Limit is the most calls per key and window.
	Limit int64 `json:"limit"`
	// Window is the counting period: 1s to 24h, or 1d ("30s", "1m", "1h").
	// Windows are fixed and aligned to the Unix epoch (a day is a UTC day).
	Window string `json:"window"`
	// Exceeded is what a call over the limit gets: deny (the default).
	Exceeded string `json:"exceeded,omitempty"`
	// FailOpen allows the calls it matches when the count cannot be read
	// (DynamoDB unreachable, slow or throttling). Off by default: such calls
	// are denied.
	FailOpen bool `json:"failOpen,omitempty"`
}

// Outcomes of one limit for one call. The decision record writes them as
// they are (TestOutcomeNames holds decisionlog's schema to them); they are
// defined here, where they decide, so that editing the record's schema
// cannot change what a limit does.
const (
	OK       = "ok"        // counted, within the limit
	Exceeded = "exceeded"  // over the limit: denied
	Error    = "error"     // the count could not be read: denied
	FailOpen = "fail_open" // the count could not be read: allowed (failOpen)
)

// Outcome is what one limit did to one call.
type Outcome struct {
	Limit  string `json:"name"`
	Result string `json:"result"`
	// Count is the calls counted in the window, this one included when it
	// was counted; Max is the limit.
	Count  int64  `json:"count"`
	Max    int64  `json:"limit"`
	Window string `json:"window"`
	// RetryAfter is the seconds until the window ends, when exceeded.
	RetryAfter int `json:"retryAfter,omitempty"`
	// Key is the limit's key: whose calls it counts together (see
	// Covers).
	Key []string `json:"-"`
	Err error    `json:"-"`
}

// FindingRule is the rule a limit's findings name (their policy is the
// limit's name).
const FindingRule = "rate-limit"

// Covers reports whether a limit keyed on key counts one caller's calls
// alone, as a containment keyed on caller tells callers apart: every
// field of caller is in key, or under a field of it ("principal" holds
// principal.id). A refusal of a limit that does not cover a containment's
// key was spent by other callers too, and is not counted as its caller's
// denial.
func Covers(key, caller []string) bool {
	for _, f := range caller {
		if !slices.ContainsFunc(key, func(k string) bool { return k == f || strings.HasPrefix(f, k+".") }) {
			return false
		}
	}
	return true
}

// Limit is one compiled RateLimit document.
type Limit struct {
	name    string
	spec    Spec
	window  time.Duration
	key     [][]string
	matcher *policy.Matcher
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// documentFields are the attribute document's top-level members, the only
// roots a key may read.
var documentFields = map[string]bool{"version": true, "phase": true, "action": true, "mcp": true, "principal": true,
	"tool": true, "environment": true, "request": true, "response": true, "time": true}

// Compile checks and compiles one RateLimit document.
func Compile(name string, spec Spec) (*Limit, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("metadata.name %q: want lower-case letters, digits and dashes", name)
	}
	if spec.Limit < 1 {
		return nil, fmt.Errorf("spec.limit %d: want at least 1", spec.Limit)
	}
	window, err := parseWindow(spec.Window)
	if err != nil {
		return nil, fmt.Errorf("spec.window: %w", err)
	}
	switch spec.Exceeded {
	case "", "deny":
	default:
		return nil, fmt.Errorf("spec.exceeded %q: want deny", spec.Exceeded)
	}
	l := &Limit{name: name, spec: spec, window: window}
	for i, f := range spec.Key {
		path := strings.Split(f, ".")
		if !documentFields[path[0]] || slices.Contains(path, "") {
			return nil, fmt.Errorf("spec.key[%d] %q: not a field of the attribute document", i, f)
		}
		l.key = append(l.key, path)
	}
	if l.matcher, err = policy.CompileMatcher(spec.Match, spec.Exclude); err != nil {
		return nil, err
	}
	return l, nil
}

// Name is the limit's name, its RateLimit document's metadata.name.
func (l *Limit) Name() string { return l.name }

// parseWindow reads a window: a Go duration from 1s to 24h, or "1d".
func parseWindow(s string) (time.Duration, error) {
	return parseSpan(s, time.Second, 24*time.Hour)
}

// parseSpan reads a span of whole seconds from least to most: a Go
// duration, or whole days ("1d", "7d").
func parseSpan(s string, least, most time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
		if days == "" || days[0] < '1' || days[0] > '9' {
			err = strconv.ErrSyntax
		}
	}
	if err != nil || d < least || d > most || d%time.Second != 0 {
		days := "1d"
		if n := most / (24 * time.Hour); n > 1 {
			days = "1d to " + strconv.Itoa(int(n)) + "d"
		}
		return 0, fmt.Errorf("%q: want whole seconds from %s to %s, or %s", s, span(least), span(most), days)
	}
	return d, nil
}

// span spells d as a Go duration without its zero units ("24h", "1m").
func span(d time.Duration) string {
	s := strings.TrimSuffix(d.String(), "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Set is a bundle's limits. A nil Set has none.
type Set struct {
	limits []*Limit
}

// NewSet returns the set of limits, whose names must be unique.
func NewSet(limits []*Limit) (*Set, error) {
	seen := map[string]bool{}
	for _, l := range limits {
		if seen[l.name] {
			return nil, fmt.Errorf("two RateLimit documents are named %s", l.name)
		}
		seen[l.name] = true
	}
	return &Set{limits: limits}, nil
}

// Len returns the number of limits.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.limits)
}

// Check counts the call that doc describes against every limit that
// matches it, at now, and returns what each did. A call that matches no
// limit costs no request to the store. A limit whose match cannot be
// evaluated counts the call (counting too much is the safe failure).
func (s *Set) Check(ctx context.Context, store state.Counter, doc map[string]any, now time.Time) []Outcome {
	if s == nil {
		return nil
	}
	var matched []*Limit
	for _, l := range s.limits {
		if ok, err := l.matcher.Matches(doc); ok || err != nil {
			matched = append(matched, l)
		}
	}
	out := make([]Outcome, len(matched))
	if len(matched) == 1 {
		out[0] = matched[0].check(ctx, store, doc, now)
		return out
	}
	// Several limits (a minute's and a day's) cost one round trip, not one
	// each.
	var wg sync.WaitGroup
	for i, l := range matched {
		wg.Go(func() { out[i] = l.check(ctx, store, doc, now) })
	}
	wg.Wait()
	return out
}

func (l *Limit) check(ctx context.Context, store state.Counter, doc map[string]any, now time.Time) Outcome {
	o := Outcome{Limit: l.name, Max: l.spec.Limit, Window: l.spec.Window, Key: l.spec.Key}
	start := now.Truncate(l.window)
	end := start.Add(l.window)
	if store == nil {
		o.Err = state.ErrNoStore
	} else {
		var ok bool
		o.Count, ok, o.Err = store.Hit(ctx, l.storeKey(doc, start), l.spec.Limit, end)
		if o.Err == nil && !ok {
			o.Result = Exceeded
			o.RetryAfter = max(1, int(end.Sub(now).Round(time.Second)/time.Second))
			return o
		}
	}
	switch {
	case o.Err == nil:
		o.Result = OK
	case l.spec.FailOpen:
		o.Result = FailOpen
	default:
		o.Result = Error
	}
	return o
}

// storeKey is the key of the call's count in this window: the limit's
// name, a digest of the key fields' values (no principal id or argument in
// the clear in the table) and the window's start.
func (l *Limit) storeKey(doc map[string]any, start time.Time) string {
	h := sha256.New()
	for _, path := range l.key {
		v := lookup(doc, path)
		if s, ok := v.(string); ok {
			h.Write([]byte(s))
		} else {
			b, _ := json.Marshal(v)
			h.Write(b)
		}
		h.Write([]byte{0})
	}
	return "rl#" + l.name + "#" + hex.EncodeToString(h.Sum(nil))[:32] + "#" + strconv.FormatInt(start.Unix(), 10)
}

func lookup(doc map[string]any, path []string) any {
	var v any = doc
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// Verdict is what a call's outcomes amount to.
type Verdict struct {
	// Reason says what denies the call; "" when nothing does.
	Reason string
	// RetryAfter is the seconds to wait before a retry can pass.
	RetryAfter int
	// Undecidable is true when a count could not be read (and the limit
	// does not fail open).
	Undecidable bool
	// Findings name each denying limit where a policy would stand, so that
	// records and bundle tests name it.
	Findings []policy.Finding
}

// Denial returns the verdict of outcomes.
func Denial(outcomes []Outcome) Verdict {
	var v Verdict
	var msgs []string
	for _, o := range outcomes {
		f := policy.Finding{Policy: o.Limit, Rule: FindingRule, Kind: policy.Violation, Mode: policy.ModeEnforce}
		switch o.Result {
		case Exceeded:
			msgs = append(msgs, fmt.Sprintf("rate limit %s exceeded (%d calls per %s); retry after %d s", o.Limit, o.Max, o.Window, o.RetryAfter))
			v.RetryAfter = max(v.RetryAfter, o.RetryAfter)
			f.Message = fmt.Sprintf("at most %d calls per %s", o.Max, o.Window)
		case Error:
			msgs = append(msgs, fmt.Sprintf("rate limit %s could not be checked", o.Limit))
			v.Undecidable = true
			f.Kind, f.Message, f.Detail = policy.Error, "the rate limit could not be checked", o.Err.Error()
		default:
			continue
		}
		v.Findings = append(v.Findings, f)
	}
	v.Reason = strings.Join(msgs, "; ")
	return v
}
