// Package redact removes secrets and personal data from tool results before
// they reach the caller. A bundle's Redaction documents say what to look for
// (built-in detectors and custom regular expressions) and where (a Kyverno
// JSON match on the attribute document: which tools, targets, principals).
// Every match is replaced by a typed marker such as [REDACTED:email]; only
// the number of replacements per detector is reported, never what matched.
package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"

	"github.com/toolgate/toolgate/internal/policy"
)

// Spec is the spec of a Redaction document.
type Spec struct {
	Rules []Rule `json:"rules"`
}

// Rule says what to redact and where.
type Rule struct {
	Name string `json:"name"`
	// Match and Exclude select the responses the rule applies to, as in a
	// ValidatingPolicy rule; without them the rule applies to every response.
	Match   *v1alpha1.Match `json:"match,omitempty"`
	Exclude *v1alpha1.Match `json:"exclude,omitempty"`
	// Detectors names built-in detectors; see Detectors.
	Detectors []string `json:"detectors,omitempty"`
	// Patterns are custom detectors.
	Patterns []Pattern `json:"patterns,omitempty"`
}

// Pattern is a custom detector: every match of Regex (RE2 syntax) is
// replaced by [REDACTED:<Name>].
type Pattern struct {
	Name  string `json:"name"`
	Regex string `json:"regex"`
}

// Counts is the number of replacements per detector.
type Counts map[string]int

// Add adds c2 to c.
func (c Counts) Add(c2 Counts) {
	for k, v := range c2 {
		c[k] += v
	}
}

// Redactor holds a bundle's compiled redaction rules. It is safe for
// concurrent use.
type Redactor struct {
	rules []rule
}

type rule struct {
	name      string
	matcher   *policy.Matcher
	detectors []*detector
}

// Compile compiles rules. Rule names must be unique and every rule must
// name at least one detector or pattern.
func Compile(rules []Rule) (*Redactor, error) {
	r := &Redactor{}
	seen := map[string]bool{}
	for i, spec := range rules {
		if spec.Name == "" {
			return nil, fmt.Errorf("rules[%d]: name is required", i)
		}
		if seen[spec.Name] {
			return nil, fmt.Errorf("duplicate redaction rule %q", spec.Name)
		}
		seen[spec.Name] = true
		compiled, err := compileRule(spec)
		if err != nil {
			return nil, fmt.Errorf("redaction rule %s: %w", spec.Name, err)
		}
		r.rules = append(r.rules, compiled)
	}
	return r, nil
}

func compileRule(spec Rule) (rule, error) {
	if len(spec.Detectors) == 0 && len(spec.Patterns) == 0 {
		return rule{}, errors.New("no detectors or patterns")
	}
	m, err := policy.CompileMatcher(spec.Match, spec.Exclude)
	if err != nil {
		return rule{}, err
	}
	out := rule{name: spec.Name, matcher: m}
	for _, name := range spec.Detectors {
		d, ok := builtins[name]
		if !ok {
			return rule{}, fmt.Errorf("unknown detector %q (known: %s)", name, strings.Join(Detectors(), ", "))
		}
		out.detectors = append(out.detectors, d)
	}
	for i, p := range spec.Patterns {
		if !validName.MatchString(p.Name) {
			return rule{}, fmt.Errorf("patterns[%d]: name %q: want lower-case letters, digits and dashes", i, p.Name)
		}
		if _, ok := builtins[p.Name]; ok {
			return rule{}, fmt.Errorf("patterns[%d]: name %q is a built-in detector", i, p.Name)
		}
		re, err := regexp.Compile(p.Regex)
		if err != nil {
			return rule{}, fmt.Errorf("patterns[%d] %s: %w", i, p.Name, err)
		}
		if re.MatchString("") {
			return rule{}, fmt.Errorf("patterns[%d] %s: the pattern matches the empty string", i, p.Name)
		}
		out.detectors = append(out.detectors, &detector{name: p.Name, order: len(order) + i, find: regexFinder(re, 0)})
	}
	return out, nil
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// Select returns a Scrubber with the detectors of every rule that applies to
// doc, the attribute document of the response. A rule whose match cannot be
// evaluated applies: redacting too much is the safe failure. Such errors are
// returned for the log.
func (r *Redactor) Select(doc map[string]any) (Scrubber, []error) {
	var s Scrubber
	var errs []error
	if r == nil {
		return s, nil
	}
	for _, ru := range r.rules {
		ok, err := ru.matcher.Matches(doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("redaction rule %s: %w", ru.name, err))
		}
		if !ok {
			continue
		}
		s.Rules = append(s.Rules, ru.name)
		for _, d := range ru.detectors {
			if !slices.Contains(s.detectors, d) {
				s.detectors = append(s.detectors, d)
			}
		}
	}
	// Built-ins run in a fixed order (a private key block before the e-mail
	// addresses inside its comment, a bearer token before the JWT it holds),
	// then custom patterns in the order declared.
	slices.SortStableFunc(s.detectors, func(a, b *detector) int { return a.order - b.order })
	return s, errs
}

// Scrubber replaces what a set of detectors finds.
type Scrubber struct {
	// Rules names the rules that applied.
	Rules     []string
	detectors []*detector
}

// Secrets returns a Scrubber with the built-in detectors of secrets: every
// one but Email. It masks what an approver is shown of a call's arguments,
// where a recipient's address is what they must see.
func Secrets() Scrubber {
	s := Scrubber{}
	for _, name := range order {
		if name != Email {
			s.detectors = append(s.detectors, builtins[name])
		}
	}
	return s
}

// Empty reports whether there is nothing to look for.
func (s Scrubber) Empty() bool { return len(s.detectors) == 0 }

// Value redacts every string in v, a JSON value as encoding/json decodes it
// into an any (with or without UseNumber), in place; it returns v with its
// strings replaced (a string cannot be replaced in place) and adds what it
// replaced to counts. It reads v as a model does:
//   - consecutive texts of an array, strings or the "text" of objects (an
//     MCP result's content items), are one text, one per line, so that a
//     key block or a token split across items is found whole;
//   - a member name is text too (a secret written as a key is a secret);
//   - with the secret-field detector, every value under a member named
//     like a secret (client_secret, ClientSecret, password, api_key) is
//     replaced, whatever its shape;
//   - a number is read as its digits, so that a card number sent as a JSON
//     number is found too (and replaced by the marker, a string).
func (s Scrubber) Value(v any, counts Counts) any {
	switch v := v.(type) {
	case string:
		return s.String(v, counts)
	case json.Number:
		if out := s.String(v.String(), counts); out != v.String() {
			return out
		}
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e20 {
			digits := strconv.FormatFloat(v, 'f', -1, 64)
			if out := s.String(digits, counts); out != digits {
				return out
			}
		}
	case map[string]any:
		s.object(v, "", counts)
	case []any:
		for i := 0; i < len(v); {
			j := i
			for j < len(v) && textOf(v[j]) != nil {
				j++
			}
			if j-i >= 2 {
				s.run(v[i:j], counts)
				i = j
				continue
			}
			v[i] = s.Value(v[i], counts)
			i++
		}
	}
	return v
}

// textOf returns the text an array element holds, if it holds one: a
// string, or an object's string "text".
func textOf(v any) *string {
	switch v := v.(type) {
	case string:
		return &v
	case map[string]any:
		if t, ok := v["text"].(string); ok {
			return &t
		}
	}
	return nil
}

// run redacts items, each a string or an object with a "text", as one
// text, and the objects' other members.
func (s Scrubber) run(items []any, counts Counts) {
	texts := make([]string, len(items))
	for i, it := range items {
		texts[i] = *textOf(it)
	}
	s.strings(texts, counts)
	for i, it := range items {
		if m, ok := it.(map[string]any); ok {
			m["text"] = texts[i]
			s.object(m, "text", counts)
		} else {
			items[i] = texts[i]
		}
	}
}

// object redacts the members of m but skip, and its member names.
func (s Scrubber) object(m map[string]any, skip string, counts Counts) {
	masks := s.masks()
	var renamed map[string]string
	for k, e := range m {
		switch {
		case k == skip:
		case masks && SecretName(k):
			m[k] = s.mask(e, counts)
		default:
			m[k] = s.Value(e, counts)
		}
		if nk := s.String(k, counts); nk != k {
			if renamed == nil {
				renamed = map[string]string{}
			}
			renamed[k] = nk
		}
	}
	for k, nk := range renamed {
		e := m[k]
		delete(m, k)
		for _, taken := m[nk]; taken; _, taken = m[nk] {
			nk += "'" // two names redacted alike stay two members
		}
		m[nk] = e
	}
}

// masks reports whether s has the secret-field detector.
func (s Scrubber) masks() bool {
	for _, d := range s.detectors {
		if d.name == SecretField {
			return true
		}
	}
	return false
}

// mask replaces every non-empty string and every number in v, a value of a
// member named like a secret, with a marker: a detector's when one finds
// the whole value (an AWS key id), the secret-field one otherwise.
func (s Scrubber) mask(v any, counts Counts) any {
	switch v := v.(type) {
	case string:
		if v == "" {
			return v
		}
		found := Counts{}
		if out := s.String(v, found); len(found) == 1 && strings.HasPrefix(out, "[REDACTED:") && strings.Count(out, "[") == 1 && strings.HasSuffix(out, "]") {
			counts.Add(found)
			return out
		}
	case json.Number, float64:
	case map[string]any:
		for k, e := range v {
			v[k] = s.mask(e, counts)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = s.mask(e, counts)
		}
		return v
	default:
		return v // true, false, null
	}
	counts[SecretField]++
	return marker(SecretField)
}

// String returns str with every finding replaced, adding to counts.
func (s Scrubber) String(str string, counts Counts) string {
	texts := []string{str}
	s.strings(texts, counts)
	return texts[0]
}

// strings redacts texts in place, read as one text with a line break
// between them. A finding that spans texts puts a marker in each.
func (s Scrubber) strings(texts []string, counts Counts) {
	if s.Empty() {
		return
	}
	joined := texts[0]
	if len(texts) > 1 {
		joined = strings.Join(texts, itemSeparator)
	}
	spans := s.find(joined, counts)
	if len(texts) > 1 {
		spans = s.across(texts, spans, counts)
	}
	if len(spans) == 0 {
		return
	}
	offset := 0
	for i, text := range texts {
		end := offset + len(text)
		var b strings.Builder
		last := 0
		for _, sp := range spans {
			a, z := max(sp.start, offset), min(sp.end, end)
			if a >= z {
				continue // the span lies outside this item, or covers only the line break
			}
			b.WriteString(text[last : a-offset])
			b.WriteString(marker(sp.name))
			last = z - offset
		}
		if b.Len() > 0 {
			b.WriteString(text[last:])
			texts[i] = b.String()
		}
		offset = end + len(itemSeparator)
	}
}

// itemSeparator joins the strings of an array into one text.
const itemSeparator = "\n"

// boundaryWindow is how much of each side of a boundary between two texts
// is read as one word: a token is at most a few hundred characters.
const boundaryWindow = 1024

// across adds to spans, found in texts joined by line breaks, what is
// found where a text ends and the next begins read without a break (a
// model shown two content items reads ghp_abc + def as one token), as
// spans of the joined text. A finding that overlaps one of spans widens it.
func (s Scrubber) across(texts []string, spans []span, counts Counts) []span {
	offset := 0
	for i := 0; i+1 < len(texts); i++ {
		end := offset + len(texts[i]) // where the line break is
		left := texts[i][max(0, len(texts[i])-boundaryWindow):]
		right := texts[i+1][:min(len(texts[i+1]), boundaryWindow)]
		found := s.find(left+right, Counts{})
		// An encoded run split across the two: read whole, from where it
		// starts in the one to where it ends in the other.
		if a, z := runStart(texts[i]), runEnd(texts[i+1]); a < len(texts[i]) && z > 0 {
			joined := texts[i][a:] + texts[i+1][:z]
			budget := maxDecodedPerText
			for _, c := range candidates(joined) {
				if c.start < len(texts[i])-a && c.end > len(texts[i])-a {
					if name := s.inside(joined[c.start:c.end], c.hex, 1, &budget); name != "" {
						found = append(found, span{len(left) - (len(texts[i]) - a - c.start), len(left) + c.end - (len(texts[i]) - a), name})
					}
				}
			}
		}
		for _, f := range found {
			if f.start >= len(left) || f.end <= len(left) {
				continue // on one side: found already
			}
			sp := span{end - (len(left) - f.start), end + len(itemSeparator) + (f.end - len(left)), f.name}
			merged := false
			for j := range spans {
				if sp.start < spans[j].end && spans[j].start < sp.end {
					spans[j].start, spans[j].end = min(spans[j].start, sp.start), max(spans[j].end, sp.end)
					merged = true
				}
			}
			if !merged {
				spans = append(spans, sp)
				counts[sp.name]++
			}
		}
		offset = end + len(itemSeparator)
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	// Widened spans may now overlap: one marker for each run.
	out := spans[:0]
	for _, sp := range spans {
		if n := len(out); n > 0 && sp.start < out[n-1].end {
			out[n-1].end = max(out[n-1].end, sp.end)
			continue
		}
		out = append(out, sp)
	}
	return out
}

// span is a finding in the original text.
type span struct {
	start, end int
	name       string
}

// find returns the findings in text, in order and not overlapping, counting
// them. Detectors run on text's view (see view), in their order; a finding
// that overlaps an earlier detector's is left out (the e-mail address in a
// key block's comment is part of the key block).
//
// Then each run that may be an encoding (see candidates) is decoded, and
// inflated if it is gzip or zlib; when a detector finds something in what
// it holds, at most maxLayers encodings deep, the whole run is replaced
// with that detector's marker.
func (s Scrubber) find(text string, counts Counts) []span {
	v := newView(text)
	var taken [][2]int // in view offsets
	var out []span
	for _, d := range s.detectors {
		for _, sp := range d.find(v.text) {
			if overlaps(taken, sp) {
				continue
			}
			taken = append(taken, sp)
			a, z := v.source(sp[0], sp[1])
			out = append(out, span{a, z, d.name})
			counts[d.name]++
		}
	}
	budget := maxDecodedPerText
	for _, c := range candidates(v.text) {
		sp := [2]int{c.start, c.end}
		if overlaps(taken, sp) {
			continue
		}
		if name := s.inside(v.text[c.start:c.end], c.hex, 1, &budget); name != "" {
			taken = append(taken, sp)
			a, z := v.source(sp[0], sp[1])
			out = append(out, span{a, z, name})
			counts[name]++
		}
	}
	slices.SortFunc(out, func(a, b span) int { return a.start - b.start })
	return out
}

// inside returns the name of the first detector that finds something in
// what run, an encoding layer layers deep, decodes to, or "" when none
// does. budget is what may still be decoded.
func (s Scrubber) inside(run string, asHex bool, layer int, budget *int) string {
	if *budget <= 0 {
		return ""
	}
	b := decodeRun(run, asHex)
	*budget -= len(b)
	if b == nil {
		return ""
	}
	if inflated := inflate(b); len(inflated) != len(b) || !bytes.Equal(inflated, b) {
		*budget -= len(inflated)
		b = inflated
	}
	// Not only text: a secret among binary bytes is still read by a model
	// that decodes the run, and the detectors read bytes.
	v := newView(string(b))
	for _, d := range s.detectors {
		if len(d.find(v.text)) > 0 {
			return d.name
		}
	}
	if layer < maxLayers {
		for _, c := range candidates(v.text) {
			if name := s.inside(v.text[c.start:c.end], c.hex, layer+1, budget); name != "" {
				return name
			}
		}
	}
	return ""
}

func overlaps(taken [][2]int, sp [2]int) bool {
	for _, t := range taken {
		if sp[0] < t[1] && t[0] < sp[1] {
			return true
		}
	}
	return false
}

func marker(name string) string { return "[REDACTED:" + name + "]" }

// Body redacts a JSON-RPC message the client is about to receive, given as
// its top-level object: every member but "jsonrpc", and but the "id" of a
// response, which answers the client's own request. A target writes all of
// the rest (params and _meta of a sampling/createMessage or
// elicitation/create it sends on a stream, members JSON-RPC does not
// define), and all of it reaches the client's model. It reports whether
// anything was replaced.
func (s Scrubber) Body(msg map[string]any, counts Counts) bool {
	if s.Empty() {
		return false
	}
	before := total(counts)
	_, isRequest := msg["method"]
	for k, v := range msg {
		if k == "jsonrpc" || (k == "id" && !isRequest) {
			continue
		}
		msg[k] = s.Value(v, counts)
	}
	return total(counts) != before
}

func total(c Counts) int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}
