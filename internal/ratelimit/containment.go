package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
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
	// Match and Exclude select the denials the containment counts (at the
	// REQUEST point); without them it counts every denial. A held caller
	// is refused every message, whatever they say: what they read may be
	// the caller's to choose (a header, a session id), and must not let
	// it out.
	Match   *v1alpha1.Match `json:"match,omitempty"`
	Exclude *v1alpha1.Match `json:"exclude,omitempty"`
	// Key names the principal's fields whose values make the caller:
	// principal.id, and any of principal.actor and principal.issuer. One
	// count and one quarantine per key. Only these: every other value is
	// the caller's to choose (and would let it spread its denials over
	// many keys, or leave its quarantine with another token: a user name
	// comes from claims a token has or lacks as its scopes ask), or is
	// shared by many callers (who would be held for one).
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
	// FailOpen allows the messages of callers an enforcing containment
	// keys when their quarantine cannot be read. Off by default: they are
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

// keyFields are the principal's fields a key may name: strings the token
// gives, one caller's.
var keyFields = map[string]bool{"principal.id": true, "principal.actor": true, "principal.issuer": true}

// maxSubject bounds each value a quarantine keeps to show whom it holds.
const maxSubject = 256

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
	if spec.FailOpen && c.spec.Mode == string(policy.ModeAudit) {
		return nil, fmt.Errorf("spec.failOpen: an audit-only containment reads no quarantine, so there is nothing to fail open")
	}
	for i, f := range spec.Key {
		if !keyFields[f] {
			return nil, fmt.Errorf("spec.key[%d] %q: want principal.id, principal.actor or principal.issuer: "+
				"any other value is the caller's to choose, or to leave out of its next token, or shared by many callers", i, f)
		}
		if slices.Contains(spec.Key[:i], f) {
			return nil, fmt.Errorf("spec.key[%d] %q: named twice", i, f)
		}
		c.key = append(c.key, strings.Split(f, "."))
	}
	if !slices.Contains(spec.Key, "principal.id") {
		return nil, fmt.Errorf("spec.key: name principal.id (with the actor, the client or the user if you like): it is what every authenticated caller has, and no other")
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
	list     []*Containment
	policies []string
}

// NewContainments returns the containments, whose names must be unique.
// The denials of policies count only where the policy is among policies:
// the bundle's, but for those that judge what a target did (a tool
// definition it changed), which would hold every caller of the target.
func NewContainments(list []*Containment, policies []string) (*Containments, error) {
	seen := map[string]bool{}
	for _, c := range list {
		if seen[c.name] {
			return nil, fmt.Errorf("two Containment documents are named %s", c.name)
		}
		seen[c.name] = true
	}
	return &Containments{list: list, policies: policies}, nil
}

// CountsPolicy reports whether a denial by the policy named counts.
func (s *Containments) CountsPolicy(policy string) bool {
	return s != nil && slices.Contains(s.policies, policy)
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

// Watch returns the containments that watch the message doc describes:
// every one, when its caller has a principal id (an anonymous caller is
// no caller to hold), else none. What each makes of the message (its
// caller's key, whether its match counts the denial) is worked out only
// when asked: most messages are neither held nor denied.
func (s *Containments) Watch(doc map[string]any) Watched {
	if s == nil {
		return Watched{}
	}
	if id, _ := lookup(doc, []string{"principal", "id"}).(string); id == "" {
		return Watched{}
	}
	return Watched{doc: doc, list: s.list}
}

// counts reports whether c counts the denial of the message doc
// describes: its match selects it, or cannot be evaluated (counting too
// much is the safe failure).
func (c *Containment) counts(doc map[string]any) bool {
	m, err := c.matcher.Matches(doc)
	return m || err != nil
}

// caller is one containment's view of one message's caller.
type caller struct {
	c       *Containment
	digest  string
	subject map[string]string
}

// caller returns the message's caller as c keys it.
func (c *Containment) caller(doc map[string]any) caller {
	h := sha256.New()
	subject := make(map[string]string, len(c.key))
	var n [8]byte
	// The principal's type first: an id is a user's subject or a
	// client's id, and a client named as a user is another caller.
	kind, _ := lookup(doc, []string{"principal", "type"}).(string)
	binary.BigEndian.PutUint64(n[:], uint64(len(kind)))
	h.Write(n[:])
	h.Write([]byte(kind))
	for i, path := range c.key {
		s, _ := lookup(doc, path).(string) // the key's fields are strings
		// Each value with its length: no two keys' values run together.
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
		if s != "" {
			if len(s) > maxSubject {
				s = strings.ToValidUTF8(s[:maxSubject], "") + "…"
			}
			subject[c.spec.Key[i]] = s
		}
	}
	return caller{c: c, digest: hex.EncodeToString(h.Sum(nil))[:32], subject: subject}
}

func (k caller) quarantineKey() string { return state.QuarantinePrefix + k.c.name + "#" + k.digest }

func (k caller) counterKey(start time.Time) string {
	return "ct#" + k.c.name + "#" + k.digest + "#" + strconv.FormatInt(start.Unix(), 10)
}

// Watched are the containments that watch one message.
type Watched struct {
	doc  map[string]any
	list []*Containment
}

// Len returns the number of containments watching.
func (w Watched) Len() int { return len(w.list) }

// Enforcing reports whether an enforcing containment watches the message:
// only then is its caller's quarantine read.
func (w Watched) Enforcing() bool {
	return slices.ContainsFunc(w.list, (*Containment).enforcing)
}

// Held reads, for each enforcing containment that keys the message's
// caller, whether the caller is quarantined at now: a held caller is
// refused every message. Audit-only containments read nothing: a message
// costs them no request.
func (w Watched) Held(ctx context.Context, store state.Quarantines, now time.Time) []ContainmentOutcome {
	var out []ContainmentOutcome
	for _, c := range w.list {
		if !c.enforcing() {
			continue
		}
		k := c.caller(w.doc)
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

// Counts reports whether a containment counts the message's denial.
func (w Watched) Counts() bool {
	return slices.ContainsFunc(w.list, func(c *Containment) bool { return c.counts(w.doc) })
}

// Count counts the message's denial against each containment whose match
// selects it and whose key callers says the denial is its caller's (see
// Covers), and begins the quarantine of the caller of each whose
// threshold the count reaches: the one instance that begins it reports
// Began.
func (w Watched) Count(ctx context.Context, store state.Store, now time.Time, callers func(key []string) bool) []ContainmentOutcome {
	out := make([]ContainmentOutcome, 0, len(w.list))
	for _, c := range w.list {
		if !c.counts(w.doc) || !callers(c.spec.Key) {
			continue
		}
		k := c.caller(w.doc)
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
