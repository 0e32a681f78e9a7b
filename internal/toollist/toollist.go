// Package toollist finds the tool lists in MCP answers, a tools/list result
// and the gateway's search tool result, and removes the tools a caller may
// not see. It works on messages decoded into plain JSON values and changes
// them in place; whether a tool may be seen is the caller's decision.
package toollist

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/redact"
	"github.com/toolgate/toolgate/internal/strictjson"
)

// SearchTool is the wire name of AgentCore Gateway's built-in semantic search
// tool. Its results list tools too.
const SearchTool = mcp.SearchTool

// Keep reports whether the tool with this wire name stays listed.
type Keep func(name string) bool

// unnamed stands for a removed entry that had no name.
const unnamed = "(unnamed)"

// ErrShape is returned when a tool list is not a JSON array: the answer
// cannot be filtered, and must not be passed on.
var ErrShape = errors.New("tool list is not an array")

// FilterList filters result.tools of a tools/list result in place, keeping
// every other field (nextCursor among them). Entries without a string name
// are removed: they cannot be judged. In what is left, a wire tool name
// that keep refuses is removed wherever it appears: a text that names one
// (a description, a title, _meta, annotations, a schema) goes whole (see
// said), and so does a member named by one. It returns the names removed
// or replaced.
func FilterList(result map[string]any, keep Keep) (hidden []string, err error) {
	v, ok := result["tools"]
	if !ok || v == nil {
		return nil, nil
	}
	tools, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("result.tools: %w", ErrShape)
	}
	kept, hidden := filter(tools, keep, nameOf)
	f := searchFilter{keep: keep, hidden: hidden, whole: true}
	for i, e := range kept {
		kept[i] = f.names(e)
	}
	result["tools"] = kept
	// Nor anywhere else in the result (its _meta, its cursor).
	f.members(result, func(k string, e any) any {
		if k == "tools" {
			return e
		}
		return f.names(e)
	})
	return f.hidden, nil
}

// FilterEntries filters the list result[member] of a prompts/list
// ("prompts", "name"), resources/list ("resources", "uri") or
// resources/templates/list ("resourceTemplates", "uriTemplate") result in
// place: entries whose nameKey keep refuses, or that have none, are
// removed. It returns what it removed.
func FilterEntries(result map[string]any, member, nameKey string, keep Keep) (hidden []string, err error) {
	v, ok := result[member]
	if !ok || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("result.%s: %w", member, ErrShape)
	}
	result[member], hidden = filter(list, keep, func(e any) string {
		m, _ := e.(map[string]any)
		s, _ := m[nameKey].(string)
		return s
	})
	return hidden, nil
}

// ScrubExcept replaces, everywhere in m but its members named in except,
// in strings, the wire tool names that keep refuses, and removes the
// members whose names hold one. It returns the names replaced.
func ScrubExcept(m map[string]any, keep Keep, except ...string) []string {
	f := searchFilter{keep: keep}
	f.members(m, func(k string, e any) any {
		if slices.Contains(except, k) {
			return e
		}
		return f.names(e)
	})
	return f.hidden
}

// ScrubEntries replaces, everywhere in a prompts/list, resources/list or
// resources/templates/list result, every string that names a wire tool
// name that keep refuses (see said), and removes the members whose names
// hold one (a hidden tool must not be named in any
// answer that lists something), but for each entry's nameKey member in
// result[member] (see FilterEntries): its own policies judged it, and a
// prompt may be named as a tool is. It returns the names replaced.
func ScrubEntries(result map[string]any, member, nameKey string, keep Keep) []string {
	f := searchFilter{keep: keep, whole: true}
	f.members(result, func(k string, e any) any {
		list, ok := e.([]any)
		if k != member || !ok {
			return f.names(e)
		}
		kept := list[:0]
		for _, entry := range list {
			m, ok := entry.(map[string]any)
			if !ok {
				kept = append(kept, f.names(entry))
				continue
			}
			if name, _ := m[nameKey].(string); f.namesHidden(name) {
				// A URI or a prompt's name that names a hidden tool
				// cannot be changed without naming something else: the
				// entry goes.
				f.hidden = append(f.hidden, name)
				continue
			}
			f.members(m, func(k string, e any) any {
				if k == nameKey {
					return e
				}
				return f.names(e)
			})
			kept = append(kept, m)
		}
		return kept
	})
	return f.hidden
}

// namesHidden reports whether name, an entry's own name, names a tool that
// f refuses: one it merely is (a prompt named as a tool is, target___name,
// judged as a prompt) does not count.
func (f *searchFilter) namesHidden(name string) bool {
	g := searchFilter{keep: f.keep}
	g.text(name)
	for _, h := range g.hidden {
		if h != name || strings.Count(name, "___") > 1 {
			return true
		}
	}
	return false
}

// names replaces, everywhere in v, in strings, the wire tool names that f
// refuses, and removes the members whose names hold one; no entry of a
// list is removed. It returns v.
func (f *searchFilter) names(v any) any {
	switch v := v.(type) {
	case map[string]any:
		f.members(v, func(_ string, e any) any { return f.names(e) })
		return v
	case []any:
		for i, e := range v {
			v[i] = f.names(e)
		}
		return v
	case string:
		return f.text(v)
	}
	return v
}

// members sets each member of m to what value makes of it, and removes a
// member whose name holds a refused wire name: a member keyed by a hidden
// tool is about it, whatever its value says.
func (f *searchFilter) members(m map[string]any, value func(k string, e any) any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same answer, the same names in the same order
	for _, k := range keys {
		if f.text(k) != k {
			delete(m, k)
			f.mentions++
			continue
		}
		if e := value(k, m[k]); e == dropped {
			delete(m, k)
		} else {
			m[k] = e
		}
	}
}

// filter removes the entries of list whose name keep refuses, and those
// without a name (they cannot be judged); a name that is the marker of
// ambiguity is none a policy judges. It returns the entries kept and the
// names removed.
func filter(list []any, keep Keep, name func(any) string) (kept []any, hidden []string) {
	kept = make([]any, 0, len(list))
	for _, e := range list {
		switch n := name(e); {
		case n == ambiguous:
			hidden = append(hidden, n)
		case n != "" && !keep(n):
			hidden = append(hidden, n)
		case n == "":
			hidden = append(hidden, unnamed)
		default:
			kept = append(kept, e)
		}
	}
	return kept, hidden
}

// nameOf returns the name of a tools/list entry: its "name", exactly.
func nameOf(tool any) string {
	if m, ok := tool.(map[string]any); ok {
		if s, ok := m["name"].(string); ok {
			return s
		}
	}
	return ""
}

// FilterSearch filters a search tool result in place, whatever its shape:
// every array anywhere in the result loses the entries (objects) whose name
// keep refuses, and the entries without a name of an array under a key
// "tools" in any case; every object loses the members whose value is an
// object whose name keep refuses; every string left, a JSON document inside a string
// included, has the wire tool names ("<target>___<tool>") that keep refuses
// replaced with [REDACTED:tool], found as a model would read them (see
// redact.ReplaceAll). It returns the names removed or replaced.
func FilterSearch(result map[string]any, keep Keep) (hidden []string, err error) {
	f := searchFilter{keep: keep}
	if f.refuses(result) {
		// The answer is one refused tool: nothing of it is left.
		clear(result)
		result["content"] = []any{}
		return f.hidden, nil
	}
	_, content := result["content"]
	f.value(result, false)
	if _, left := result["content"]; content && !left {
		result["content"] = []any{} // a tool result has content, if empty
	}
	return f.hidden, nil
}

// SearchNames returns the names FilterSearch judges in a search tool
// result: it runs the filter on a copy, keeping every name, and returns
// the names it was asked about, at most max of them (and whether there
// were more).
func SearchNames(result map[string]any, max int) (names []string, more bool) {
	seen := map[string]bool{}
	FilterSearch(clone(result).(map[string]any), func(name string) bool {
		if !seen[name] {
			seen[name] = true
			if len(names) < max {
				names = append(names, name)
			} else {
				more = true
			}
		}
		return true
	})
	return names, more
}

// clone returns a deep copy of a decoded JSON value.
func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = clone(e)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = clone(e)
		}
		return l
	}
	return v
}

// searchFilter walks one search result.
type searchFilter struct {
	keep   Keep
	hidden []string
	// whole: a text that names a refused tool goes whole, not with the
	// name replaced (see said).
	whole bool
	// folded holds the first nFolded names of hidden in lower case (see
	// hidFolded).
	folded  map[string]bool
	nFolded int
	// mentions counts the names replaced and the members and entries
	// removed for naming a refused tool, within the entry being filtered
	// (see value).
	mentions int
	// depth is how deep in JSON inside text the filter is; textValues
	// are the values of the JSON texts it decoded.
	depth, textValues int
}

// value filters v and returns it (a string cannot be changed in place);
// tools says that v is the value of a key "tools".
func (f *searchFilter) value(v any, tools bool) any {
	switch v := v.(type) {
	case map[string]any:
		f.members(v, func(k string, e any) any {
			// A named object is judged wherever it is, and goes whole if
			// refused: a mention of the tool in the entry that holds it
			// ({"tool": {"name": ...}, "description": ...}). Under
			// "tools", an object's members are its tools, named by their
			// keys when they have no name of their own.
			m0 := f.mentions
			switch {
			case f.refuses(e), tools && entryName(e) == "" && f.refusesName(k):
				f.mentions = m0 + 1
				return dropped
			}
			return f.value(e, strings.EqualFold(k, "tools"))
		})
		return v
	case []any:
		// The entries' own names first: what a list names is judged (and
		// its definitions read, at most pins.MaxSearched) before what
		// its entries say.
		for _, e := range v {
			if n := entryName(e); n != "" && n != ambiguous {
				f.keep(n)
			}
		}
		// An entry removed is a mention for what holds the list: an
		// entry of another list that held it goes too ({"tool":
		// [{"name": ...}], "description": ...}).
		kept := v[:0]
		for _, e := range v {
			m0 := f.mentions
			switch {
			case f.refuses(e):
				f.mentions = m0 + 1
			case tools && entryName(e) == "":
				f.hidden = append(f.hidden, unnamed) // under tools, what names no tool cannot be judged
				f.mentions = m0 + 1
			default:
				e = f.value(e, false)
				switch e.(type) {
				case map[string]any, []any:
					if f.mentions > m0 {
						// An entry that mentions a refused tool goes
						// whole: what it says of it would pass with the
						// name replaced.
						f.mentions = m0 + 1
						continue
					}
				}
				kept = append(kept, e)
			}
		}
		clear(v[len(kept):])
		return kept
	case string:
		return f.text(v)
	}
	return v
}

// refuses reports whether e is an object about a tool the filter refuses
// (see entryName), or about two tools, noting the name as hidden. A
// naming member that is not a bare name (padded, suffixed, in look-alike
// characters) is judged by the names a model reads in it, as prose: once,
// however much JSON it holds.
func (f *searchFilter) refuses(e any) bool {
	m, ok := e.(map[string]any)
	if !ok {
		return false
	}
	if n := entryName(m); n != "" && f.refusesName(n) {
		return true
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if s, ok := m[k].(string); ok && namingKey(k) && f.prose(s) != s {
			return true
		}
	}
	return false
}

// refusesName reports whether the filter refuses the tool name, noting it
// as hidden.
func (f *searchFilter) refusesName(n string) bool {
	if n != ambiguous && f.keep(n) {
		return false
	}
	f.hidden = append(f.hidden, n)
	return true
}

// entryName returns the name of the tool an object of a search result is
// about: the value of its member "name", "toolName", "tool_name" or
// "qualifiedName" in any case, or of any member whose whole value is a
// wire tool name; ambiguous when they name two tools (which one a client
// reads is its own choice, so the entry is judged by neither).
func entryName(e any) string {
	m, _ := e.(map[string]any)
	found := ""
	for k, v := range m {
		s, ok := v.(string)
		if !ok || !namingKey(k) && !isWireName(s) {
			continue
		}
		if found != "" && s != found {
			return ambiguous
		}
		found = s
	}
	return found
}

// namingKey reports whether a member named k names the tool its object is
// about.
func namingKey(k string) bool {
	for _, n := range [...]string{"name", "toolName", "tool_name", "qualifiedName"} {
		if strings.EqualFold(k, n) {
			return true
		}
	}
	return false
}

// isWireName reports whether s is a gateway tool name, whole.
func isWireName(s string) bool {
	if !strings.Contains(s, "___") {
		return false
	}
	m := wireName.FindStringIndex(s)
	return m != nil && m[0] == 0 && m[1] == len(s)
}

// dropped is what a member's value becomes to have the member removed.
var dropped any = new(struct{})

// ambiguous stands for an entry that two members name differently: it is
// removed.
const ambiguous = "(ambiguous)"

// text filters a JSON document written as text as a value, then replaces
// the refused names in what is left.
func (f *searchFilter) text(s string) string {
	if !strings.Contains(s, "___") && redact.Plain(s) {
		return s // no wire name, nor one behind an encoding or look-alikes
	}
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "{") && !strings.HasPrefix(t, "[") {
		if bracketed(s) {
			// JSON behind a character that hides it (a zero-width
			// space, a fence, a word), or in look-alike brackets: a
			// model reads it as JSON all the same.
			return f.unread(s)
		}
		return f.said(s)
	}
	if f.depth >= maxTextDepth {
		return f.unread(s)
	}
	m0 := f.mentions
	// Checked before it is decoded: a text of a million empty objects
	// would take hundreds of MB, so an answer's texts decode at most
	// maxTextValues values together (one past them is unread). One
	// whose keys repeat (or that holds what parsers read apart) reads
	// one way here and maybe another to the client: which tool it is
	// about is no one tool.
	left := maxTextValues - f.textValues
	if left <= 0 {
		return f.unread(s) // strictjson reads 0 as no bound
	}
	values, err := strictjson.CheckCount([]byte(t), strictjson.Options{MaxDepth: 64, MaxValues: left})
	switch {
	case errors.Is(err, strictjson.ErrSyntax), errors.Is(err, strictjson.ErrValues), errors.Is(err, strictjson.ErrDepth):
		// Not JSON, or more than this answer's texts may decode.
		return f.unread(s)
	case err != nil:
		f.refusesName(ambiguous)
		f.mentions = m0 + 1
		return "[REDACTED:tool]"
	}
	dec := json.NewDecoder(strings.NewReader(t))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil || dec.More() {
		return f.unread(s)
	}
	f.textValues += values
	if f.refuses(v) {
		f.mentions = m0 + 1
		return "[REDACTED:tool]" // the text is one refused tool
	}
	before := len(f.hidden)
	_, list := v.([]any) // a text that is an array lists tools
	f.depth++
	v = f.value(v, list)
	f.depth--
	if container(v) {
		// A list, or an object of lists, lost its refused
		// entries cleanly: the rewritten text no longer
		// mentions them. An object that also says something
		// of its own does not.
		f.mentions = m0
	}
	if len(f.hidden) > before {
		out, err := codec.MarshalJSON(v)
		// Go writes U+2028 and U+2029 escaped, three bytes longer.
		grown := 3 * (strings.Count(t, "\u2028") + strings.Count(t, "\u2029"))
		if err != nil || len(out) > len(t)+grown {
			// Rewritten longer than it was (escapes that grow
			// with each level of JSON in text): it goes whole.
			f.mentions = m0 + 1
			return "[REDACTED:tool]"
		}
		s = string(out)
	}
	return f.said(s)
}

// said filters s, a text read as prose or what is left of a JSON text:
// with the refused names replaced, or whole when the filter says so. A
// listed tool's texts go whole: with the name replaced, what a text says
// of the tool would pass in any structure a model reads and the filter
// does not (XML, YAML, a name split in two members), and the text is about
// a tool the caller may not use.
func (f *searchFilter) said(s string) string {
	if f.whole {
		return f.unread(s)
	}
	return f.prose(s)
}

// What JSON inside text is read as JSON: maxTextDepth levels of JSON
// text inside JSON text, and maxTextValues values in all the texts of one
// answer, as many as the event itself may hold. Deeper, or past them, a
// text is unread (see unread).
const (
	maxTextDepth  = 3
	maxTextValues = 100_000
)

// container reports whether v is a list, or an object whose members are
// all lists or objects: what holds entries and says nothing of its own.
func container(v any) bool {
	switch v := v.(type) {
	case []any:
		return true
	case map[string]any:
		for _, e := range v {
			switch e.(type) {
			case []any, map[string]any:
			default:
				return false
			}
		}
		return true
	}
	return false
}

// unread filters s, a text that looks like JSON but is not read as JSON
// (too deep, past the answer's budget, not valid, or JSON only after
// something else, see bracketed): as prose, but one that
// names a refused tool goes whole. Its entries cannot be told apart, and
// what it says of the tool would pass with the name replaced, also where
// nothing removes the item that holds it (a listed tool's description).
func (f *searchFilter) unread(s string) string {
	if out := f.prose(s); out != s {
		return "[REDACTED:tool]"
	}
	return s
}

// bracketed reports whether s, as a model reads it (entities, escapes
// and percent-encoding decoded, look-alikes folded: see redact.Read),
// may hold structure: an opening bracket other than "(" ("{" or "[", what
// may be JSON, read by a model if not by us, or another it reads as one:
// ❴, 「), a piece of a tall brace (⎨), a guillemet, or a JSON member's
// quote and colon.
func bracketed(s string) bool {
	v := redact.Read(s)
	return strings.Contains(v, `":`) || strings.ContainsFunc(v, func(r rune) bool {
		return r != '(' && unicode.Is(unicode.Ps, r) || r >= 0x23A7 && r <= 0x23AD || r == '«' || r == '‹'
	})
}

// prose replaces in s the wire tool names the filter refuses, found as a
// model would read them (see redact.ReplaceAll).
func (f *searchFilter) prose(s string) string {
	// Each view of the text finds its mentions again: a name is hidden
	// as many times as the view that finds it most often finds it.
	var most map[string]int
	out, _, whole := redact.ReplaceAll(s, func(text string) [][2]int {
		var spans [][2]int
		var found map[string]int
		for _, m := range wireName.FindAllStringIndex(text, -1) {
			// No tool is named with two separators: such a run
			// (github___x.billing___refund) hides whichever it holds.
			if name := text[m[0]:m[1]]; strings.Count(name, "___") > 1 || f.refusesMention(name) {
				if found == nil {
					found = map[string]int{}
				}
				if found[name]++; found[name] > most[name] {
					if most == nil {
						most = map[string]int{}
					}
					most[name] = found[name]
					f.hidden = append(f.hidden, name)
					f.mentions++
				}
				spans = append(spans, [2]int{m[0], m[1]})
			}
		}
		return spans
	}, "[REDACTED:tool]")
	if !whole {
		// Encoded deeper than a view reads (%25255F is an underscore
		// three times over): the names it hides were not looked for.
		f.refusesName(ambiguous)
		f.mentions++
		return "[REDACTED:tool]"
	}
	if len(out) > len(s)+maxProseGrowth {
		// Many short names, each replaced with a longer marker: the text
		// goes whole rather than grow the answer past what it can be.
		return "[REDACTED:tool]"
	}
	return out
}

// refusesMention reports whether name, read in a text, names a tool the
// filter refuses, in any case: a model reads 🅺8🆂___🅳🅴🅻🅴🆃🅴 (K8S___DELETE)
// as k8s___delete. So a name is refused if keep refuses it, or it in
// lower case, or if it is a name the filter hid, in another case.
//
// A hidden name followed by a separator (_k8s___delete-pod_ in italics,
// k8s___delete-pod—then, the dash folded) is read as that name too,
// though the longer run may be a name keep allows: a run is refused when
// a name the filter hid ends where one of its "-", "_" or "." starts.
func (f *searchFilter) refusesMention(name string) bool {
	if !f.keep(name) {
		return true
	}
	lower := strings.ToLower(name)
	if lower != name && !f.keep(lower) || f.hidFolded(lower) {
		return true
	}
	for p := strings.Index(lower, "___") + 4; p < len(lower); p++ {
		if c := lower[p]; (c == '-' || c == '_' || c == '.') && f.hidFolded(lower[:p]) {
			return true
		}
	}
	return false
}

// hidFolded reports whether lower is a name the filter hid, in lower case.
func (f *searchFilter) hidFolded(lower string) bool {
	if f.folded == nil {
		f.folded = map[string]bool{}
	}
	for ; f.nFolded < len(f.hidden); f.nFolded++ {
		f.folded[strings.ToLower(f.hidden[f.nFolded])] = true
	}
	return f.folded[lower]
}

// maxProseGrowth is how much longer replacing names may make a text.
const maxProseGrowth = 64

// wireName matches a gateway tool name in prose: a target name, three
// underscores, a tool name.
var wireName = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9_-]*___[A-Za-z0-9_.-]*[A-Za-z0-9_-]`)
