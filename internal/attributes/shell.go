package attributes

import (
	"encoding/json"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxReadings bounds the readings of one value (see readings): braces that
// would expand to more count as naming a store, since a value may not buy
// its way past the scan by size.
const maxReadings = 64

// readings returns the texts a shell may read s as, each normalised (see
// shellNormal): s itself and, when it has backslashes, s with them as
// separators (a Windows path, %USERPROFILE%\.aws\credentials); each with
// its braces expanded as bash does ({a,b}, {a..c}, nested), and, for a
// URL, curl's numeric ranges ([1-3]); and each of those with its paths
// resolved (see resolved). ok is false when there would be more than
// maxReadings.
func readings(s string) (out []string, ok bool) {
	ok = true
	bases := []string{s}
	if strings.ContainsRune(s, '\\') {
		bases = append(bases, strings.ReplaceAll(s, "\\", "/"))
	}
	// JSON text is data, not a command: its objects are no brace
	// expressions (and expanding them would multiply its readings).
	data := (strings.HasPrefix(strings.TrimSpace(s), "{") || strings.HasPrefix(strings.TrimSpace(s), "[")) && json.Valid([]byte(s))
	for _, b := range bases {
		n := shellNormal(b)
		expanded := []string{n}
		if !data {
			if expanded, ok = expandBraces(n, maxReadings); !ok {
				return nil, false
			}
		}
		if strings.Contains(n, ":/") && strings.ContainsRune(n, '[') { // a URL ("//" is one "/" here)
			for _, e := range expanded {
				ranges, ok := expandRanges(e, maxReadings)
				if !ok {
					return nil, false
				}
				out = append(out, ranges...)
			}
		} else {
			out = append(out, expanded...)
		}
		if len(out) > maxReadings {
			return nil, false
		}
	}
	size := 0
	for _, r := range out {
		if p := resolved(r); p != r {
			out = append(out, p)
		}
		if size += 2 * len(r); size > maxReadingBytes {
			return nil, false
		}
	}
	return out, true
}

// maxReadingBytes bounds the text the readings of one value make: past it
// the value counts as naming a store, so that braces cannot make a call's
// scan cost many times its size.
const maxReadingBytes = 1 << 20

// expandBraces returns s with its brace expressions expanded as bash
// expands them: a comma list ({a,b}, {,x}), nested, or a sequence of
// integers or letters ({1..3}, {a..e}, {1..9..2}); a brace without either,
// or after "$" (${HOME}), is kept as written. ok is false when there would
// be more than max results.
func expandBraces(s string, max int) (out []string, ok bool) {
	i, j, alts := firstBrace(s, max)
	if i < 0 {
		return []string{s}, true
	}
	if alts == nil {
		return nil, false // a sequence longer than max
	}
	for _, a := range alts {
		more, ok := expandBraces(s[:i]+a+s[j+1:], max-len(out))
		if !ok {
			return nil, false
		}
		out = append(out, more...)
		if len(out) > max {
			return nil, false
		}
	}
	return out, true
}

// firstBrace finds the first brace expression of s that expands: its
// "{" at i, its "}" at j, and what it expands to (nil when a sequence has
// more than max items); i is -1 when there is none.
func firstBrace(s string, max int) (i, j int, alts []string) {
	for i = 0; i < len(s); i++ {
		if s[i] != '{' || i > 0 && s[i-1] == '$' {
			continue
		}
		depth, commas, blank := 0, []int{}, false
		for j = i + 1; j < len(s); j++ {
			switch s[j] {
			case '{':
				depth++
			case '}':
				depth--
			case ',':
				if depth == 0 {
					commas = append(commas, j)
				}
			case ' ', '\t', '\n':
				blank = true
			}
			if depth < 0 {
				break
			}
		}
		if j >= len(s) {
			return -1, 0, nil // unbalanced: no later "{" closes either
		}
		if blank {
			continue // bash expands a brace within one word only: { env; }
		}
		if len(commas) > 0 {
			start := i + 1
			for _, c := range append(commas, j) {
				alts = append(alts, s[start:c])
				start = c + 1
			}
			return i, j, alts
		}
		if seq, ok := sequence(s[i+1:j], max); ok {
			return i, j, seq
		}
	}
	return -1, 0, nil
}

// sequence expands the inside of a sequence expression (1..3, a..e,
// 1..9..2); ok is false when body is none. A sequence of more than max
// items gives ok with a nil result.
func sequence(body string, max int) (items []string, ok bool) {
	parts := strings.Split(body, "..")
	if len(parts) != 2 && len(parts) != 3 {
		return nil, false
	}
	step := 1
	if len(parts) == 3 {
		n, err := strconv.Atoi(parts[2])
		if err != nil {
			return nil, false
		}
		step = max1(abs(n))
	}
	if a, err := strconv.Atoi(parts[0]); err == nil {
		b, err := strconv.Atoi(parts[1])
		if err != nil {
			return nil, false
		}
		if abs(b-a)/step+1 > max {
			return nil, true
		}
		for k := a; a <= b && k <= b || a > b && k >= b; k += sign(b-a) * step {
			items = append(items, strconv.Itoa(k))
		}
		return items, true
	}
	if len(parts[0]) != 1 || len(parts[1]) != 1 || parts[0][0] >= utf8.RuneSelf || parts[1][0] >= utf8.RuneSelf {
		return nil, false
	}
	a, b := int(parts[0][0]), int(parts[1][0])
	for k := a; a <= b && k <= b || a > b && k >= b; k += sign(b-a) * step {
		items = append(items, string(rune(k)))
	}
	return items, true
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func max1(n int) int { return max(n, 1) }

func sign(n int) int {
	if n < 0 {
		return -1
	}
	return 1
}

// expandRanges expands curl's URL globbing ranges of numbers or letters
// ([1-3], [a-c]), which curl reads even in a quoted URL. ok is false when
// there would be more than max results.
func expandRanges(s string, max int) ([]string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] != '[' {
			continue
		}
		j := strings.IndexByte(s[i:], ']')
		if j < 0 {
			break
		}
		j += i
		items, ok := sequence(strings.Replace(s[i+1:j], "-", "..", 1), max)
		if !ok {
			continue
		}
		if items == nil {
			return nil, false
		}
		var out []string
		for _, it := range items {
			more, ok := expandRanges(s[:i]+it+s[j+1:], max-len(out))
			if !ok {
				return nil, false
			}
			out = append(out, more...)
			if len(out) > max {
				return nil, false
			}
		}
		return out, true
	}
	return []string{s}, true
}

// resolved returns n, a normalised command line, with its paths as the
// shell and the commands reach them: a path with ".." cleaned
// (/etc/ssl/../shadow), and a relative one joined to the directory a cd
// before it went to (cd /proc/self && cat environ), or that a -C option
// names (tar -C ~ .aws). n itself when nothing changes. It is a reading
// besides n, never instead of it: every word after a cd is joined, the
// command's name too, which errs toward finding.
func resolved(n string) string {
	if !strings.Contains(n, "cd") && !strings.Contains(n, "-c") && !strings.Contains(n, "/..") {
		return n
	}
	words := tokens(n)
	cwd, changed := "", false
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "cd" && (i+1 == len(words) || isOperator(words[i+1])):
			cwd = "~" // cd alone goes home
		case w == "cd" || w == "-c" && i+1 < len(words) && strings.ContainsAny(words[i+1][:1], "/~."):
			// -c is -C (tar, git, make) when a directory follows: the
			// text is in lower case by now.
			i++
			cwd = join(cwd, words[i])
		case isOperator(w) || w == "" || w[0] == '-' || w[0] == '$' || strings.Contains(w, "://"):
		default:
			if p := join(cwd, w); p != w {
				words[i], changed = p, true
			}
		}
	}
	if !changed {
		return n
	}
	return strings.Join(words, " ")
}

// join is the path p reaches from directory dir ("" when unknown),
// cleaned where it climbs.
func join(dir, p string) string {
	if dir != "" && p[0] != '/' && p[0] != '~' {
		p = dir + "/" + p
	}
	if strings.Contains(p, "/..") || strings.Contains(p, "/./") {
		p = path.Clean(p)
	}
	return p
}

// tokens splits a command line into words and the operators between
// them (; & | < > ( )), each its own token.
func tokens(n string) []string {
	var out []string
	start := -1
	for i := 0; i <= len(n); i++ {
		if i < len(n) && !strings.ContainsRune(" \t\n;&|<>()", rune(n[i])) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, n[start:i])
			start = -1
		}
		if i < len(n) && n[i] != ' ' && n[i] != '\t' {
			out = append(out, n[i:i+1])
		}
	}
	return out
}

func isOperator(w string) bool { return len(w) == 1 && strings.ContainsRune("\n;&|<>()", rune(w[0])) }

// ansiC decodes the inside of a bash $'...' string from s, which starts
// after its opening quote: the decoded text, and the length of s it took
// (through the closing quote, or all of s).
func ansiC(s string) (string, int) {
	var b strings.Builder
	i := 0
	for i < len(s) && s[i] != '\'' {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			i++
			continue
		}
		i++ // the backslash
		c := s[i]
		i++
		switch c {
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'e', 'E':
			b.WriteByte(0x1b)
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case 'x', 'u', 'U':
			digits := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
			v, n := number(s[i:], 16, digits)
			if n == 0 {
				b.WriteByte('\\')
				b.WriteByte(c)
				continue
			}
			i += n
			if c == 'x' {
				b.WriteByte(byte(v))
			} else {
				b.WriteRune(rune(v))
			}
		case 'c':
			if i < len(s) {
				b.WriteByte(s[i] & 0x1f)
				i++
			}
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v, n := number(s[i-1:], 8, 3)
			i += n - 1
			b.WriteByte(byte(v))
		default: // \\ \' \" \? and any other character stand for themselves
			b.WriteByte(c)
		}
	}
	if i < len(s) {
		i++ // the closing quote
	}
	return b.String(), i
}

// number reads up to max digits of base from s: their value and how many.
func number(s string, base, max int) (v, n int) {
	for n < max && n < len(s) {
		d, err := strconv.ParseUint(s[n:n+1], base, 8)
		if err != nil {
			break
		}
		v = v*base + int(d)
		n++
	}
	return v, n
}
