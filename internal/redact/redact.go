// Package redact removes secrets and personal data from tool results before
// they reach the caller. A bundle's Redaction documents say what to look for
// (built-in detectors and custom regular expressions) and where (a Kyverno
// JSON match on the attribute document: which tools, targets, principals).
// Every match is replaced by a typed marker such as [REDACTED:email]; only
// the number of replacements per detector is reported, never what matched.
package redact

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

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
	s.masking = slices.ContainsFunc(s.detectors, func(d *detector) bool { return d.name == SecretField })
	return s, errs
}

// Scrubber replaces what a set of detectors finds.
type Scrubber struct {
	// Rules names the rules that applied.
	Rules     []string
	detectors []*detector
	// masking: the secret-field detector is among them, so values under
	// secret-named members are masked.
	masking bool
}

// Secrets returns a Scrubber with the built-in detectors of secrets: every
// one but Email. It masks what an approver is shown of a call's arguments,
// where a recipient's address is what they must see.
func Secrets() Scrubber {
	s := Scrubber{masking: true}
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
//   - the texts of an array, strings or the "text" of objects (an MCP
//     result's content items), are one text, so that a key block or a
//     token split across items is found whole (see strings);
//   - a member name is text too (a secret written as a key is a secret);
//   - with the secret-field detector, every string under a member named
//     like a secret (client_secret, ClientSecret, password, api_key) is
//     replaced whatever its shape, and a number that is such a member's
//     value; not inside a JSON Schema (inputSchema, outputSchema,
//     requestedSchema), where "password" names a parameter;
//   - a number is read as its digits, so that a card number sent as a JSON
//     number is found too (and replaced by the marker, a string).
//
// What is decoded while reading v (see find) is bounded for the whole of v
// (see decodeAllowance); a run left undecoded when it is spent is
// replaced.
func (s Scrubber) Value(v any, counts Counts) any {
	return s.value(v, &pass{counts: counts, budget: decodeAllowance})
}

// pass is one redaction of a value: what it found, what it may still
// decode, and the short texts it found nothing in.
type pass struct {
	counts Counts
	budget int
	// clean holds short texts that find read whole and found nothing in
	// without decoding anything: then nothing but the text decided it,
	// and the same text is clean again. A tool list's schemas repeat
	// "string" and "object" hundreds of times.
	clean map[string]struct{}
}

// maxClean is the longest text a pass remembers as clean, and
// maxCleanTexts the most it remembers.
const (
	maxClean      = 64
	maxCleanTexts = 1024
)

func (s Scrubber) value(v any, p *pass) any {
	switch v := v.(type) {
	case string:
		return s.text(v, p)
	case json.Number:
		// Only a card number is digits alone: 13 of them at least.
		if len(v) >= 13 {
			if out := s.text(v.String(), p); out != v.String() {
				return out
			}
		}
	case float64:
		if v == math.Trunc(v) && math.Abs(v) >= 1e12 && math.Abs(v) < 1e20 {
			digits := strconv.FormatFloat(v, 'f', -1, 64)
			if out := s.text(digits, p); out != digits {
				return out
			}
		}
	case map[string]any:
		s.object(v, "", false, p)
	case []any:
		s.array(v, false, p)
	}
	return v
}

// array redacts the elements of v; those that hold a text (see textOf)
// are read as one text, whatever lies between them (an image between two
// texts does not part them).
func (s Scrubber) array(v []any, schema bool, p *pass) {
	var at []int
	var texts []string
	items := false // content items, not a list of values
	for i, e := range v {
		if t, ok := textOf(e); ok {
			at, texts = append(at, i), append(texts, t)
			_, obj := e.(map[string]any)
			items = items || obj
		}
	}
	if len(at) >= 2 {
		s.strings(texts, items, p)
		for k, i := range at {
			if m, ok := v[i].(map[string]any); ok {
				if setText(m, texts[k]) {
					s.object(m, "text", schema, p)
				} else {
					s.object(m, "", schema, p) // its inner text is redacted already
				}
			} else {
				v[i] = texts[k]
			}
		}
	}
	for i, e := range v {
		if _, ok := textOf(e); ok && len(at) >= 2 {
			continue
		}
		switch e := e.(type) {
		case map[string]any:
			s.object(e, "", schema, p)
		case []any:
			s.array(e, schema, p)
		default:
			v[i] = s.value(e, p)
		}
	}
}

// textOf returns the text an array element holds, if it holds one: a
// string, an object's string "text" (a content item's), or the "text" of
// its "resource" (an embedded resource) or "content" (a sampling message).
func textOf(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case map[string]any:
		if t, ok := v["text"].(string); ok {
			return t, true
		}
		for _, inner := range innerTexts {
			if m, ok := v[inner].(map[string]any); ok {
				if t, ok := m["text"].(string); ok {
					return t, true
				}
			}
		}
	}
	return "", false
}

// innerTexts are the members whose "text" is an element's text.
var innerTexts = []string{"resource", "content"}

// setText writes t where textOf read m's text, and reports whether that
// is m's own "text".
func setText(m map[string]any, t string) bool {
	if _, ok := m["text"].(string); ok {
		m["text"] = t
		return true
	}
	for _, inner := range innerTexts {
		if in, ok := m[inner].(map[string]any); ok {
			if _, ok := in["text"].(string); ok {
				in["text"] = t
				return false
			}
		}
	}
	return false
}

// schemaMembers hold JSON Schemas, whose member names are parameters'
// names ("password": {"type": "string"}), not secrets.
var schemaMembers = map[string]bool{"inputSchema": true, "outputSchema": true, "requestedSchema": true}

// object redacts the members of m but skip, and its member names. In a
// JSON Schema (schema), the members of "properties" are parameters: a
// secret's name there masks only the values a schema gives it (default,
// const, examples, enum), not its declaration.
func (s Scrubber) object(m map[string]any, skip string, schema bool, p *pass) {
	masks := s.masking
	_, declares := m["properties"]
	if masks && !schema {
		s.namedValue(m, p)
	}
	// The string members are read as one text, a line each in the order
	// of their names, as a model reads "key: value" lines: a key block
	// whose header and body are two members is one key.
	var lines []string
	for k, e := range m {
		if _, ok := e.(string); ok && !(skip != "" && k == skip) && !(masks && SecretName(k)) {
			lines = append(lines, k)
		}
	}
	if len(lines) >= 2 {
		slices.Sort(lines)
		texts := make([]string, len(lines))
		for i, k := range lines {
			texts[i] = m[k].(string)
		}
		s.strings(texts, false, p)
		for i, k := range lines {
			m[k] = texts[i]
		}
	} else {
		lines = nil
	}
	var renamed map[string]string
	for k, e := range m {
		switch {
		case skip != "" && k == skip:
		case isLine(lines, k):
			// read above
		case masks && SecretName(k):
			m[k] = s.mask(e, true, p)
		case schema && declares && k == "properties":
			if props, ok := e.(map[string]any); ok {
				for name, decl := range props {
					d, ok := decl.(map[string]any)
					switch {
					case ok && masks && SecretName(name):
						for _, given := range []string{"default", "const", "examples", "enum"} {
							if v, ok := d[given]; ok {
								d[given] = s.mask(v, true, p)
							}
						}
						s.object(d, "", true, p)
					case ok:
						s.object(d, "", true, p)
					default:
						props[name] = s.value(decl, p)
					}
				}
				break
			}
			m[k] = s.value(e, p)
		default:
			switch e := e.(type) {
			case map[string]any:
				s.object(e, "", schema || schemaMembers[k], p)
			case []any:
				s.array(e, schema || schemaMembers[k], p)
			default:
				m[k] = s.value(e, p)
			}
		}
		if nk := s.text(k, p); nk != k {
			if renamed == nil {
				renamed = map[string]string{}
			}
			renamed[k] = nk
		}
	}
	next := map[string]int{} // the next suffix to try, per redacted name
	for k, nk := range renamed {
		e := m[k]
		delete(m, k)
		if _, taken := m[nk]; taken {
			// Two names redacted alike stay two members.
			n := max(next[nk], 2)
			for {
				if _, taken := m[nk+"#"+strconv.Itoa(n)]; !taken {
					break
				}
				n++
			}
			next[nk] = n + 1
			nk += "#" + strconv.Itoa(n)
		}
		m[nk] = e
	}
}

// nameMembers and valueMembers are how a name/value pair is written:
// {"name": "DB_PASSWORD", "value": "..."} (Kubernetes, ECS), {"Name":
// "/prod/db/password", "Value": "..."} (SSM), ParameterKey/Value
// (CloudFormation).
var (
	nameMembers  = []string{"name", "Name", "key", "Key", "ParameterKey", "ParameterName"}
	valueMembers = []string{"value", "Value", "ParameterValue"}
)

// namedValue masks the value of a name/value pair whose name, or its last
// path segment, says it is a secret.
func (s Scrubber) namedValue(m map[string]any, p *pass) {
	for _, n := range nameMembers {
		name, ok := m[n].(string)
		if !ok {
			continue
		}
		if i := strings.LastIndexAny(name, "/.:"); i >= 0 {
			name = name[i+1:]
		}
		if !SecretName(name) {
			return
		}
		for _, v := range valueMembers {
			if e, ok := m[v]; ok {
				m[v] = s.mask(e, true, p)
			}
		}
		return
	}
}

// isLine reports whether k is one of lines, sorted.
func isLine(lines []string, k string) bool {
	_, found := slices.BinarySearch(lines, k)
	return found
}

// mask replaces every non-empty string in v, a value of a member named
// like a secret, with a marker: a detector's when one finds the whole
// value (an AWS key id), the secret-field one otherwise. A number is
// replaced only when it is the member's own value (top): a nested one
// (an expiry) keeps its type.
func (s Scrubber) mask(v any, top bool, p *pass) any {
	switch v := v.(type) {
	case string:
		if v == "" {
			return v
		}
		found := &pass{counts: Counts{}, budget: p.budget}
		out := s.text(v, found)
		p.budget = found.budget // what reading it spent is spent
		if len(found.counts) == 1 && strings.HasPrefix(out, "[REDACTED:") && strings.Count(out, "[") == 1 && strings.HasSuffix(out, "]") {
			p.counts.Add(found.counts)
			return out
		}
	case json.Number, float64:
		if !top {
			return v
		}
	case map[string]any:
		for k, e := range v {
			v[k] = s.mask(e, false, p)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = s.mask(e, false, p)
		}
		return v
	default:
		return v // true, false, null
	}
	p.counts[SecretField]++
	return marker(SecretField)
}

// String returns str with every finding replaced, adding to counts.
func (s Scrubber) String(str string, counts Counts) string {
	return s.text(str, &pass{counts: counts, budget: decodeAllowance})
}

func (s Scrubber) text(str string, p *pass) string {
	if len(str) < minFinding {
		return str
	}
	texts := []string{str}
	s.strings(texts, false, p)
	return texts[0]
}

// strings redacts texts in place, read as one text with a line break
// between them, and, for content items (items), also without the break:
// a model shown two content items reads ghp_abc + def as one token. (The
// strings of a list of values are not run together: ["2026-07-28",
// "2025-11-25"] is no card number.) A finding that spans texts puts a
// marker in each.
func (s Scrubber) strings(texts []string, items bool, p *pass) {
	if s.Empty() {
		return
	}
	joined := texts[0]
	if len(texts) > 1 {
		joined = strings.Join(texts, itemSeparator)
	}
	p.budget += decodeRatio * len(joined)
	spans := s.find(joined, p)
	if items && len(texts) > 1 {
		spans = s.flat(texts, spans, p)
	}
	if len(spans) == 0 {
		return
	}
	// Texts and spans are both in order: one walk over both.
	offset, k := 0, 0
	for i, text := range texts {
		end := offset + len(text)
		var b strings.Builder
		last := 0
		for k < len(spans) && spans[k].end <= offset {
			k++
		}
		for _, sp := range spans[k:] {
			if sp.start >= end {
				break
			}
			a, z := max(sp.start, offset), min(sp.end, end)
			if a >= z {
				continue // the span covers only the line break
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

// minFinding is the shortest text a detector can find anything in
// (a@b.io): a shorter one alone is not read, which keeps a large answer
// of small values cheap.
const minFinding = 6

// itemSeparator joins the strings of an array into one text.
const itemSeparator = "\n"

// flat adds to spans, found in texts joined by line breaks, what is found
// in texts joined by nothing, as spans of the joined text: the findings
// that cross from one text into another. A finding that overlaps one of
// spans widens it.
func (s Scrubber) flat(texts []string, spans []span, p *pass) []span {
	starts := make([]int, len(texts)) // where each text starts in the flat text
	n := 0
	for i, t := range texts {
		starts[i] = n
		n += len(t)
	}
	// joinedAt maps an offset of the flat text to the joined text's.
	joinedAt := func(off int, end bool) int {
		i, _ := slices.BinarySearch(starts, off+1)
		i-- // the text holding off
		if end && i > 0 && off == starts[i] {
			i-- // an end at a text's start ends the text before it
		}
		return off + i*len(itemSeparator)
	}
	found := s.find(strings.Join(texts, ""), &pass{counts: Counts{}, budget: p.budget})
	// spans are sorted and disjoint: whether a crossing finding overlaps
	// one is a binary search, so many findings cost no more each.
	n0 := len(spans)
	for _, f := range found {
		a, z := joinedAt(f.start, false), joinedAt(f.end, true)
		if z-a == f.end-f.start {
			continue // within one text: found already
		}
		k := sort.Search(n0, func(i int) bool { return spans[i].end > a })
		if k == n0 || spans[k].start >= z {
			p.counts[f.name]++ // new: what overlaps is widened by coalesce
		}
		spans = append(spans, span{a, z, f.name})
	}
	// Crossing findings widen what they overlap: one marker for each run.
	return coalesce(spans)
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
// inflated if it is compressed; when a detector finds something in what it
// holds, at most maxLayers encodings deep, the whole run is replaced with
// that detector's marker. A run left undecoded because p's budget is spent
// is replaced too (see Undecoded).
func (s Scrubber) find(text string, p *pass) []span {
	short := len(text) <= maxClean
	if short {
		if _, ok := p.clean[text]; ok {
			return nil
		}
	}
	budget := p.budget
	out := s.findAll(text, p)
	if short && len(out) == 0 && p.budget == budget && len(p.clean) < maxCleanTexts {
		// Every decoding spends budget, or finds a span when none is
		// left: this text was read by the detectors alone.
		if p.clean == nil {
			p.clean = make(map[string]struct{})
		}
		p.clean[text] = struct{}{}
	}
	return out
}

// findAll is find without its memory of clean texts.
func (s Scrubber) findAll(text string, p *pass) []span {
	views, r := readViews(text)
	if r == flooded {
		// More to decode than a view may hold: what cannot be read is
		// not passed.
		p.counts[Undecoded]++
		return []span{{0, len(text), Undecoded}}
	}
	var out []span
	for i, v := range views {
		// A second reading (through HTML tags) adds what it finds, and
		// counts what the first did not: a finding in both is one.
		found := coalesce(slices.Clone(out))
		add := func(a, z int, name string) {
			if i == 0 || !overlaps(found, a, z) {
				p.counts[name]++
			}
			out = append(out, span{a, z, name})
		}
		var taken [][2]int // in view offsets, sorted and disjoint
		for _, d := range s.detectors {
			var accepted [][2]int
			taken, accepted = claim(taken, d.find(v.text))
			for _, sp := range accepted {
				a, z := v.source(sp[0], sp[1])
				add(a, z, d.name)
			}
		}
		// Encoded runs and dumps are read even where a detector found
		// something in them (a spurious card number in a dump's columns
		// must not let the rest pass); what overlaps is then one span.
		encoded := func(a, z int, name string) {
			a, z = v.source(a, z)
			add(a, z, name)
		}
		for _, c := range candidates(v.text) {
			if name := s.inside(v.text[c.start:c.end], c.hex, 1, p); name != "" {
				encoded(c.start, c.end, name)
			}
		}
		if strings.Contains(v.text, "0000") {
			for _, d := range dumps(v.text) {
				if len(d.bytes) >= minEncoded {
					if name := s.decoded(d.bytes, 1, p); name != "" {
						encoded(d.start, d.end, name)
					}
				}
			}
		}
	}
	return coalesce(out)
}

// overlaps reports whether a to z overlaps one of spans, which are sorted
// and disjoint.
func overlaps(spans []span, a, z int) bool {
	k := sort.Search(len(spans), func(i int) bool { return spans[i].end > a })
	return k < len(spans) && spans[k].start < z
}

// coalesce sorts spans and makes one of each run of overlapping ones,
// named by the first.
func coalesce(spans []span) []span {
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
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

// claim returns taken with the spans of found that overlap neither it nor
// each other merged in, and those spans. taken is sorted and disjoint;
// found is sorted by start, as detectors return them. It is linear: an
// answer of 100,000 findings costs no more per finding than one of ten.
func claim(taken, found [][2]int) (merged, accepted [][2]int) {
	j := 0
	for _, sp := range found {
		for j < len(taken) && taken[j][1] <= sp[0] {
			j++
		}
		if j < len(taken) && taken[j][0] < sp[1] {
			continue
		}
		if n := len(accepted); n > 0 && accepted[n-1][1] > sp[0] {
			continue
		}
		accepted = append(accepted, sp)
	}
	if len(accepted) == 0 {
		return taken, nil
	}
	merged = make([][2]int, 0, len(taken)+len(accepted))
	a, b := 0, 0
	for a < len(taken) || b < len(accepted) {
		if b == len(accepted) || a < len(taken) && taken[a][0] < accepted[b][0] {
			merged = append(merged, taken[a])
			a++
		} else {
			merged = append(merged, accepted[b])
			b++
		}
	}
	return merged, accepted
}

// Undecoded is the marker name of an encoded run that was not decoded
// because the pass's decoding budget was spent: what cannot be read is
// not passed.
const Undecoded = "undecoded"

// inside returns the name of the first detector that finds something in
// what run, an encoding layer layers deep, decodes to; "" when none does;
// Undecoded when p's budget does not cover decoding it.
func (s Scrubber) inside(run string, asHex bool, layer int, p *pass) string {
	for _, b := range decodeRun(run, asHex) {
		if name := s.decoded(b, layer, p); name != "" {
			return name
		}
	}
	return ""
}

// decoded returns the name of the first detector that finds something in
// b, one of what a run decodes to, once inflated, or in the runs it holds;
// Undecoded when p's budget does not cover it.
func (s Scrubber) decoded(b []byte, layer int, p *pass) string {
	if p.budget <= 0 {
		return Undecoded
	}
	p.budget -= len(b)
	if p.budget < 0 {
		return Undecoded
	}
	inflated, ok := inflate(b, p.budget)
	if !ok {
		if inflated == nil {
			p.budget = 0 // spent inflating it
		}
		return Undecoded
	}
	if len(inflated) != len(b) || len(b) > 0 && &inflated[0] != &b[0] {
		p.budget -= len(inflated) // a compressed run: what it inflated to
	}
	b = inflated
	// Not only text: a secret among binary bytes is still read by a model
	// that decodes the run, and the detectors read bytes.
	// Text is read every way text is (markup inside base64 is markup);
	// other bytes as written only: reading the stray '<' and '&' of
	// binary every other way cost a 500-tool list a tenth of its time
	// (each tool's name decodes four ways).
	views, r := []view{{text: string(b)}}, whole
	if readable(b) {
		views, r = readViews(string(b))
	} else {
		views[0], r = readView(string(b), 0)
	}
	if r == flooded {
		return Undecoded
	}
	for _, v := range views {
		for _, d := range s.detectors {
			if len(d.find(v.text)) > 0 {
				return d.name
			}
		}
	}
	if layer < maxLayers {
		for _, v := range views {
			for _, c := range candidates(v.text) {
				if name := s.inside(v.text[c.start:c.end], c.hex, layer+1, p); name != "" {
					return name
				}
			}
		}
	}
	return ""
}

// readable reports whether b is text: UTF-8 without control characters
// but tabs and line breaks.
func readable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return false
		}
	}
	return utf8.Valid(b)
}

func marker(name string) string { return "[REDACTED:" + name + "]" }

// Message says which parts of a message Body leaves unread: the client's
// own, which the target only echoes.
type Message struct {
	// OwnID: the message's id is the request's, which the client chose.
	OwnID bool
	// List: the message answers a list, whose string nextCursor the client
	// sends back.
	List bool
}

// Body redacts a JSON-RPC message the client is about to receive, given as
// its top-level object: every member but "jsonrpc" (which
// mcp.CheckAnswer holds to "2.0"), and but what m says is the client's
// own. A target writes all of the rest (params and _meta of a
// sampling/createMessage or elicitation/create it sends on a stream, an
// id of its own, members JSON-RPC does not define), and all of it reaches
// the client's model. It reports whether anything was replaced.
func (s Scrubber) Body(msg map[string]any, m Message, counts Counts) bool {
	if s.Empty() {
		return false
	}
	before := total(counts)
	p := &pass{counts: counts, budget: decodeAllowance}
	for k, v := range msg {
		switch result, ok := v.(map[string]any); {
		case k == "jsonrpc" || k == "id" && m.OwnID:
		case k == "result" && ok:
			// A list's nextCursor (a string) is the client's to send
			// back, opaque to it and not shown to a model: decoding it
			// read a page token as a secret and broke paging. Any other
			// answer's, or one of another type, is the target's text.
			skip := ""
			if _, text := result["nextCursor"].(string); m.List && text {
				skip = "nextCursor"
			}
			s.object(result, skip, false, p)
		default:
			msg[k] = s.value(v, p)
		}
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
