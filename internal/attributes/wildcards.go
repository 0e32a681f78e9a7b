package attributes

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/toolgate/toolgate/internal/fold"
)

// Wildcards returns the JSON Pointers (RFC 6901) of the arguments that ask a
// tool to act on everything: a wildcard or pattern value ("*", "api-*",
// "/var/log/*.log", ".+", "%"), a word or flag for everything ("all",
// "-A", "--all-namespaces=true"), a key for everything set to a truthy
// value ({"allNamespaces": "true"}, {"all_namespaces": 1}), or an empty
// selector ({"labelSelector": ""}), at any depth. Keys are compared in any
// case and without "_", "-" and spaces; look-alike characters (＊) are
// folded first. It errs towards finding too much: a policy may name the
// tools whose arguments are patterns by design.
func Wildcards(args map[string]any) []string {
	wildcards, _ := scanArguments(args, nil)
	return wildcards
}

// scanArguments walks args, and the input responses a message gives the
// call (inputs), once for Wildcards and CredentialStores: the target reads
// both as the call's input, so a path asked for later is found as one in
// the arguments is. The pointers of inputs start with "/@inputResponses".
func scanArguments(args, inputs map[string]any) (wildcards, stores []string) {
	w := argumentWalk{out: []string{}, stores: []string{}, left: maxCallReadings}
	w.walk("", args, true)
	if inputs != nil {
		w.path = append(w.path, "@inputResponses")
		w.walk("", inputs, true)
	}
	slices.Sort(w.out)
	slices.Sort(w.stores)
	return w.out, w.stores
}

// argumentWalk walks arguments keeping the path as a stack of segments, so
// that a path string is built only for what it finds: arguments may hold
// 100,000 values.
type argumentWalk struct {
	left   int // bytes left of the call's readings (see maxCallReadings)
	path   []string
	out    []string // wildcards
	stores []string // credential stores
}

// store records the current path as naming a credential store.
func (w *argumentWalk) store() {
	w.stores = append(w.stores, "/"+strings.Join(w.path, "/"))
}

// words returns the items of an array joined by spaces, as a command
// line: strings as they are, or, with whole, each as the one word an argv
// item is (its blanks written "_": ["env", "A=x y"]); numbers, booleans
// and null as JSON writes them (["sh", "-c", "env", 0] runs env). "" when
// an item is an object or an array, or there are none.
func words(v []any, whole bool) string {
	var b strings.Builder
	for i, e := range v {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch e := e.(type) {
		case string:
			if whole {
				e = strings.Join(strings.Fields(e), "_") // ["env", "A=x y"]: one word
			}
			b.WriteString(e)
		case float64:
			b.WriteString(strconv.FormatFloat(e, 'g', -1, 64))
		case json.Number:
			b.WriteString(e.String())
		case bool:
			b.WriteString(strconv.FormatBool(e))
		case nil:
			b.WriteString("null")
		default:
			return ""
		}
	}
	return b.String()
}

// scriptKeys name arguments whose items are each a command line (an SSM
// document's commands, a CI step's script).
var scriptKeys = map[string]bool{"commands": true, "cmds": true, "script": true, "scripts": true, "lines": true,
	"run": true, "steps": true, "shell": true}

// scriptText is an array of script lines as a shell runs it: its string
// items, line after line ("" when it has none).
func scriptText(v []any) string {
	var lines []string
	for _, e := range v {
		if s, ok := e.(string); ok {
			lines = append(lines, s)
		}
	}
	return strings.Join(lines, "\n")
}

// scriptLine reports whether s, an array's item, reads as a command line
// of its own: it has a blank or an operator between words.
func scriptLine(s string) bool { return strings.ContainsAny(strings.TrimSpace(s), " \t\n;&|`$") }

func (w *argumentWalk) found() {
	w.out = append(w.out, "/"+strings.Join(w.path, "/"))
}

// walk looks at v, the value of the argument named key ("" at the top, or
// the enclosing key for list items); a string is read for the commands
// that print credentials unless it is a list item (commands), since a
// list of strings is read as one command line.
func (w *argumentWalk) walk(key string, v any, commands bool) {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 && isSelector(key) {
			w.found()
		}
		for name, e := range v {
			w.path = append(w.path, pointerEscape(name))
			// A member's name is read for paths, not as a command: {"env":
			// {...}} names a tool's option.
			if namesCredentialStore(name, false, &w.left) {
				w.store() // {"~/.ssh/id_rsa": "read"}
			}
			w.walk(name, e, true)
			w.path = w.path[:len(w.path)-1]
		}
	case []any:
		if len(v) == 0 && isSelector(key) {
			w.found()
		}
		// An argv (["sh", "-c", "env"]) is one command line: its words
		// are read together for commands, alone for paths, so that
		// ["conda", "env", "list"] is not "env". The items of a script's
		// lines (["uptime", "set"]), or an item with words of its own,
		// are each a command too.
		if argv := words(v, false); argv != "" && !plainWord(argv) && (printsArgv(argv, &w.left) || printsArgv(words(v, true), &w.left)) {
			w.store()
		}
		lines := scriptKeys[normalKey(key)]
		if lines && namesCredentialStore(scriptText(v), true, &w.left) {
			w.store() // ["cd /etc", "cat shadow"]: one script, line after line
		}
		for i, e := range v {
			w.path = append(w.path, strconv.Itoa(i))
			s, _ := e.(string)
			w.walk(key, e, lines || scriptLine(s))
			w.path = w.path[:len(w.path)-1]
		}
	case string:
		if namesCredentialStore(v, commands, &w.left) {
			w.store()
		}
		s := strings.TrimSpace(fold.String(v))
		if wildcardString(s) || (s == "" && isSelector(key)) || (truthy(s) && everythingKeys[normalKey(key)]) {
			w.found()
		}
	case bool:
		if v && everythingKeys[normalKey(key)] {
			w.found()
		}
	case json.Number: // a task's arguments, decoded exactly
		if f, err := v.Float64(); err == nil {
			w.walk(key, f, commands)
		}
	case float64:
		if v != 0 && everythingKeys[normalKey(key)] {
			w.found()
		}
		if v >= 0xa9fe0000 && v <= 0xa9feffff && v == float64(uint32(v)) {
			w.store() // a metadata address as a number ({"host": 2852039166})
		}
	}
}

// printsArgv reports whether an argv, joined, prints credentials in any
// of its readings (see readings).
func printsArgv(argv string, left *int) bool {
	if len(argv) > maxStoreValue {
		return true // too long to read, as a value would be
	}
	return anyReading(argv, left, printsCredentials)
}

func isSelector(key string) bool { return strings.HasSuffix(normalKey(key), "selector") }

// everythingKeys are argument names (normalised, see normalKey) that mean
// "all of them" when set.
var everythingKeys = func() map[string]bool {
	m := map[string]bool{"all": true, "everything": true, "selectall": true, "anynamespace": true, "wildcard": true, "matchall": true}
	for _, what := range strings.Fields("namespaces namespace resources objects items users pods files records regions accounts projects buckets tables keys repos repositories branches nodes instances") {
		m["all"+what] = true
	}
	return m
}()

// normalKey lower-cases k and drops "_", "-", "." and spaces.
func normalKey(k string) string {
	return strings.Map(func(r rune) rune {
		switch r = unicode.ToLower(fold.Rune(r)); r {
		case '_', '-', '.', ' ':
			return -1
		}
		return r
	}, k)
}

func truthy(s string) bool {
	if len(s) > len("true") {
		return false
	}
	switch strings.ToLower(s) {
	case "true", "yes", "y", "on", "1", "all", "*", "t":
		return true
	}
	return false
}

// everythingWords are values (in any case) that name everything, and
// command-line flags that select all namespaces or all objects.
var everythingWords = map[string]bool{
	"all": true, "_all": true, "any": true, "everything": true, "all-namespaces": true, "allnamespaces": true,
	"-a": true, "--all": true, "--all=true": true, "--all-namespaces": true, "--all-namespaces=true": true, "-all": true,
}

// wildcardString reports whether s (folded and trimmed) is a pattern or a
// word for everything. Free text (with spaces) is looked at word by word
// for flags only: "what is 5 * 3?" is a question, not a glob.
func wildcardString(s string) bool {
	if s == "" {
		return false
	}
	if len(s) <= len("--all-namespaces=true") && everythingWords[strings.ToLower(s)] {
		return true
	}
	if strings.ContainsAny(s, " \t\r\n") {
		if !strings.Contains(s, "-") {
			return false // no option, so none of everythingWords'
		}
		for f := range strings.FieldsSeq(s) {
			if strings.HasPrefix(f, "-") && everythingWords[strings.ToLower(f)] {
				return true
			}
		}
		return false
	}
	if strings.Trim(s, `*?%.+[]^$()|\{}`) == "" {
		return true // only pattern characters: "?", ".+", "%%", "^.*$"
	}
	return strings.Contains(s, "*") || strings.Contains(s, ".+") || likeWildcard(s)
}

// likeWildcard reports a SQL LIKE "%" that is not percent-encoding.
func likeWildcard(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && !(i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2])) {
			return true
		}
	}
	return false
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

func pointerEscape(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return pointerEscaper.Replace(s)
}
