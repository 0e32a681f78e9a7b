package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"

	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/state"
)

// ContainmentSpec is the spec of a Containment document: a count of the
// denials of one caller that, past a threshold, holds the caller in
// quarantine. A compromised or looping agent shows itself by what it is
// refused; contained, it is refused everything for a while, and an
// operator is told.
type ContainmentSpec struct {
	// Match and Exclude select the messages the containment watches (at
	// the REQUEST point): those whose denials it counts, and those it
	// denies during a quarantine. Without them it watches every message.
	Match   *v1alpha1.Match `json:"match,omitempty"`
	Exclude *v1alpha1.Match `json:"exclude,omitempty"`
	// Key names the principal's fields whose values make the caller
	// ("principal.id", "principal.actor"): one count and one quarantine
	// per key. Only principal fields: a caller picks every other value,
	// and could spread its denials over many keys.
	Key []string `json:"key"`
	// Threshold is the count of denials in a window that begins a
	// quarantine.
	Threshold int64 `json:"threshold"`
	// Window is the counting period, fixed and aligned to the Unix epoch,
	// as a RateLimit's: 1s to 24h, or 1d.
	Window string `json:"window"`
	// Quarantine is how long a quarantine lasts: 1m to 168h, or 1d to 7d.
	Quarantine string `json:"quarantine"`
	// Mode is enforce (the default: a quarantined caller's messages are
	// denied) or audit (a quarantine begins, is recorded and counted in
	// the metrics, and denies nothing: how to try a threshold out).
	Mode string `json:"mode,omitempty"`
	// FailOpen allows the messages an enforcing containment watches when
	// their caller's quarantine cannot be read. Off by default: they are
	// denied.
	FailOpen bool `json:"failOpen,omitempty"`
}

// Outcomes of a containment for one message, besides Error and FailOpen.
const (
	Quarantined = "quarantined" // the caller is held: denied (or, in audit mode, would be)
	Counted     = "counted"     // the message's denial was counted
	Began       = "began"       // the message's denial began a quarantine
)

// ContainmentOutcome is what one containment did to one message.
type ContainmentOutcome struct {
	Containment string `json:"name"`
	Result      string `json:"result"`
	// Count is the denials counted in the window, this one included; Max
	// is the threshold.
	Count int64 `json:"count,omitempty"`
	Max   int64 `json:"threshold"`
	// Until is when the caller's quarantine ends, for quarantined and
	// began.
	Until time.Time `json:"until,omitzero"`
	// RetryAfter is the seconds until then.
	RetryAfter int    `json:"retryAfter,omitempty"`
	Mode       string `json:"mode"`
	Window     string `json:"-"`
	Err        error  `json:"-"`
}

// Containment is one compiled Containment document.
type Containment struct {
	name       string
	spec       ContainmentSpec
	window     time.Duration
	quarantine time.Duration
	key        [][]string
	matcher    *policy.Matcher
}

// CompileContainment checks and compiles one Containment document.
func CompileContainment(name string, spec ContainmentSpec) (*Containment, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("metadata.name %q: want lower-case letters, digits and dashes", name)
	}
	if spec.Threshold < 1 {
		return nil, fmt.Errorf("spec.threshold %d: want at least 1", spec.Threshold)
	}
	c := &Containment{name: name, spec: spec}
	var err error
	if c.window, err = parseWindow(spec.Window); err != nil {
		return nil, fmt.Errorf("spec.window: %w", err)
	}
	if c.quarantine, err = parseSpan(spec.Quarantine, time.Minute, 7*24*time.Hour); err != nil {
		return nil, fmt.Errorf("spec.quarantine: %w", err)
	}
	switch spec.Mode {
	case "":
		c.spec.Mode = string(policy.ModeEnforce)
	case string(policy.ModeEnforce), string(policy.ModeAudit):
	default:
		return nil, fmt.Errorf("spec.mode %q: want enforce or audit", spec.Mode)
	}
	if len(spec.Key) == 0 {
		return nil, fmt.Errorf("spec.key: name the principal's fields that make a caller, such as principal.id")
	}
	for i, f := range spec.Key {
		path := strings.Split(f, ".")
		if len(path) < 2 || path[0] != "principal" || strings.Contains(f, "..") || strings.HasSuffix(f, ".") {
			return nil, fmt.Errorf("spec.key[%d] %q: want a field of principal: the caller chooses every other value", i, f)
		}
		c.key = append(c.key, path)
	}
	if c.matcher, err = policy.CompileMatcher(spec.Match, spec.Exclude); err != nil {
		return nil, err
	}
	return c, nil
}

// Name is the containment's name, its document's metadata.name.
func (c *Containment) Name() string { return c.name }

func (c *Containment) enforcing() bool { return c.spec.Mode == string(policy.ModeEnforce) }

// Containments are a bundle's Containment documents. A nil value has
// none.
type Containments struct {
	list []*Containment
}

// NewContainments returns the containments, whose names must be unique.
func NewContainments(list []*Containment) (*Containments, error) {
	seen := map[string]bool{}
	for _, c := range list {
		if seen[c.name] {
			return nil, fmt.Errorf("two Containment documents are named %s", c.name)
		}
		seen[c.name] = true
	}
	return &Containments{list: list}, nil
}

// Len returns the number of containments.
func (s *Containments) Len() int {
	if s == nil {
		return 0
	}
	return len(s.list)
}

// Audit reports whether every containment is audit-only.
func (s *Containments) Audit() bool {
	for _, c := range s.list {
		if c.enforcing() {
			return false
		}
	}
	return true
}

// Watch returns the containments that watch the message doc describes,
// each with the message's caller. A containment whose match cannot be
// evaluated watches it (holding too much is the safe failure); one whose
// key fields are all empty (an anonymous caller) does not: there is no
// caller to hold.
func (s *Containments) Watch(doc map[string]any) Watched {
	if s == nil {
		return Watched{}
	}
	var w Watched
	for _, c := range s.list {
		if ok, err := c.matcher.Matches(doc); !ok && err == nil {
			continue
		}
		if caller, ok := c.caller(doc); ok {
			w.list = append(w.list, caller)
		}
	}
	return w
}

// caller is one containment's view of one message's caller.
type caller struct {
	c       *Containment
	digest  string
	subject map[string]string
}

// caller returns the message's caller as c keys it, and false when every
// field of its key is empty.
func (c *Containment) caller(doc map[string]any) (caller, bool) {
	h := sha256.New()
	subject := make(map[string]string, len(c.key))
	for i, path := range c.key {
		v := lookup(doc, path)
		var s string
		switch v := v.(type) {
		case nil:
		case string:
			s = v
		default:
			b, _ := json.Marshal(v)
			s = string(b)
		}
		if s != "" {
			subject[c.spec.Key[i]] = s
		}
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if len(subject) == 0 {
		return caller{}, false
	}
	return caller{c: c, digest: hex.EncodeToString(h.Sum(nil))[:32], subject: subject}, true
}

func (k caller) quarantineKey() string { return state.QuarantinePrefix + k.c.name + "#" + k.digest }

func (k caller) counterKey(start time.Time) string {
	return "ct#" + k.c.name + "#" + k.digest + "#" + strconv.FormatInt(start.Unix(), 10)
}

// Watched are the containments that watch one message.
type Watched struct {
	list []caller
}

// Len returns the number of containments watching.
func (w Watched) Len() int { return len(w.list) }

// Enforcing reports whether an enforcing containment watches the
// message: only then is its caller's quarantine read.
func (w Watched) Enforcing() bool {
	for _, k := range w.list {
		if k.c.enforcing() {
			return true
		}
	}
	return false
}

// Held reads, for each enforcing containment watching the message,
// whether its caller is quarantined at now. Audit-only containments read
// nothing: a message costs them no request.
func (w Watched) Held(ctx context.Context, store state.Quarantines, now time.Time) []ContainmentOutcome {
	var out []ContainmentOutcome
	for _, k := range w.list {
		if !k.c.enforcing() {
			continue
		}
		o := k.outcome()
		var q state.Quarantine
		var held bool
		if store == nil {
			o.Err = state.ErrNoStore
		} else {
			q, held, o.Err = store.Quarantine(ctx, k.quarantineKey(), now)
		}
		switch {
		case o.Err != nil && k.c.spec.FailOpen:
			o.Result = FailOpen
		case o.Err != nil:
			o.Result = Error
		case held:
			o.Result, o.Count, o.Until = Quarantined, q.Denials, q.Until
			o.RetryAfter = retryAfter(q.Until, now)
		default:
			continue
		}
		out = append(out, o)
	}
	return out
}

// Count counts the message's denial against each containment watching
// it, and begins the quarantine of the caller of each whose threshold the
// count reaches: the one instance that begins it reports Began.
func (w Watched) Count(ctx context.Context, store state.Store, now time.Time) []ContainmentOutcome {
	out := make([]ContainmentOutcome, 0, len(w.list))
	for _, k := range w.list {
		o := k.outcome()
		start := now.Truncate(k.c.window)
		counter := k.counterKey(start)
		var counted bool
		o.Count, counted, o.Err = store.Hit(ctx, counter, k.c.spec.Threshold, start.Add(k.c.window))
		if o.Err == nil && (!counted || o.Count == k.c.spec.Threshold) {
			// At the threshold: begin the quarantine, or begin it again
			// past the threshold (a write that failed, or a quarantine
			// that ended within the window).
			q := state.Quarantine{Key: k.quarantineKey(), Containment: k.c.name, Subject: k.subject,
				Began: now, Until: now.Add(k.c.quarantine), Denials: o.Count, Counter: counter}
			var began bool
			began, o.Err = store.BeginQuarantine(ctx, q, now)
			if began {
				o.Result, o.Until, o.RetryAfter = Began, q.Until, retryAfter(q.Until, now)
			} else {
				o.Result = Quarantined // another call began it, and it is in force
			}
		}
		switch {
		case o.Err != nil:
			o.Result = Error
		case o.Result == "":
			o.Result = Counted
		}
		out = append(out, o)
	}
	return out
}

func (k caller) outcome() ContainmentOutcome {
	return ContainmentOutcome{Containment: k.c.name, Max: k.c.spec.Threshold, Window: k.c.spec.Window, Mode: k.c.spec.Mode}
}

func retryAfter(until, now time.Time) int {
	return max(1, int(until.Sub(now).Round(time.Second)/time.Second))
}

// HeldVerdict is what Held's outcomes amount to: a denial when an
// enforcing containment holds the caller or cannot tell whether it does
// (and does not fail open).
func HeldVerdict(outcomes []ContainmentOutcome) Verdict {
	var v Verdict
	var msgs []string
	for _, o := range outcomes {
		f := policy.Finding{Policy: o.Containment, Rule: "containment", Kind: policy.Violation, Mode: policy.ModeEnforce}
		switch o.Result {
		case Quarantined:
			msgs = append(msgs, fmt.Sprintf("quarantined by containment %s until %s after %d denials in %s; retry after %d s",
				o.Containment, o.Until.Format(time.RFC3339), o.Count, o.Window, o.RetryAfter))
			v.RetryAfter = max(v.RetryAfter, o.RetryAfter)
			f.Message = fmt.Sprintf("quarantined until %s", o.Until.Format(time.RFC3339))
		case Error:
			msgs = append(msgs, fmt.Sprintf("containment %s could not be checked", o.Containment))
			v.Undecidable = true
			f.Kind, f.Message, f.Detail = policy.Error, "the quarantine could not be checked", o.Err.Error()
		default:
			continue
		}
		v.Findings = append(v.Findings, f)
	}
	v.Reason = strings.Join(msgs, "; ")
	return v
}

// CountFindings are the findings of Count's outcomes, for a message
// denied already: a quarantine that began (in the containment's mode,
// so that an audit-only one reads as what would have denied) and a count
// that failed (audit: it changes no decision).
func CountFindings(outcomes []ContainmentOutcome) []policy.Finding {
	var out []policy.Finding
	for _, o := range outcomes {
		switch o.Result {
		case Began:
			out = append(out, policy.Finding{Policy: o.Containment, Rule: "containment", Kind: policy.Violation, Mode: policy.Mode(o.Mode),
				Message: fmt.Sprintf("quarantine began: %d denials in %s; held until %s", o.Count, o.Window, o.Until.Format(time.RFC3339))})
		case Error:
			out = append(out, policy.Finding{Policy: o.Containment, Rule: "containment", Kind: policy.Error, Mode: policy.ModeAudit,
				Message: "the denial could not be counted", Detail: o.Err.Error()})
		}
	}
	return out
}
