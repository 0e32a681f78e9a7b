package attributes

import (
	"encoding/json"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/toolgate/toolgate/internal/fold"
)

// Bounds on the readings of one value (see readings). Past them the value
// counts as naming a store: a value must not buy its way past the scan by
// size, nor make the scan cost many times its size.
const (
	maxReadings     = 256     // texts
	maxReadingBytes = 1 << 20 // bytes, all readings together
	maxBraces       = 256     // brace expressions, or curl sets and ranges, in one text
	maxSequence     = 64      // items of one sequence read whole ({1..64})
	maxDir          = 4 << 10 // bytes of a directory a cd goes to
	maxWork         = 2 << 20 // bytes read by the expansions, all steps together
)

// readings returns the texts a shell may read s as, each normalised:
//   - s as bash reads its quotes (shellNormal), and as the scan first read
//     it, every quote dropped (naiveNormal); when s has backslashes, also
//     with them as separators (a Windows path, %USERPROFILE%\.aws\credentials);
//   - the first with its braces expanded as bash does ({a,b}, {a..c},
//     nested; not in JSON text, which is data, unless it substitutes a
//     command), and each that names a URL with curl's sets and ranges
//     ({a}, [1-3]);
//   - each of those with "*" also matching dotfiles when the text turns
//     bash's dotglob on, and with its paths resolved (see resolved), and
//     a URL's percent escapes decoded.
//
// ok is false when the readings would pass the bounds above.
func readings(s string) (out []string, ok bool) {
	b := budget{texts: maxReadings, bytes: maxReadingBytes, work: maxWork}
	trimmed := strings.TrimSpace(s)
	data := (strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[")) && json.Valid([]byte(s)) &&
		!strings.Contains(s, "$(") && !strings.ContainsRune(s, '`')
	out = make([]string, 0, 4)
	bases := []string{shellNormal(s), naiveNormal(s)}
	if strings.ContainsRune(s, '\\') {
		bases = append(bases, naiveNormal(strings.ReplaceAll(s, "\\", "/")))
	}
	for k, n := range bases {
		if n == "" || len(out) > 0 && (out[0] == n || len(out) > 1 && out[len(out)-1] == n) {
			continue // the same text twice: one reading
		}
		if strings.Contains(n, "[[") {
			n = equivalence.ReplaceAllString(n, "[$1]") // [[=e=]], [[.e.]]
		}
		if strings.Contains(n, "extglob") {
			n = extglob.ReplaceAllStringFunc(n, func(m string) string { // @(aws|x) as {aws,x}
				return "{" + strings.ReplaceAll(m[2:len(m)-1], "|", ",") + ",}"
			})
		}
		expanded := []string{n}
		// Braces as bash reads them: outside quotes only; in every reading
		// where extglob's patterns were written as braces (a -c script in
		// quotes is code too).
		if !data && (k == 0 || strings.Contains(n, "extglob")) {
			var ok bool
			if expanded, ok = expandBraces(n, &b); !ok {
				return nil, false
			}
		}
		for _, e := range expanded {
			if url := strings.Contains(e, ":/") || strings.Contains(e, "curl"); url && strings.ContainsAny(e, "[{") {
				ranges, ok := expandRanges(e, &b)
				if !ok {
					return nil, false
				}
				out = append(out, ranges...)
				continue
			}
			out = append(out, e)
		}
	}
	for _, r := range out { // the readings so far: range reads out once
		if strings.Contains(r, "dotglob") || strings.Contains(r, "globignore") {
			if !b.take(r) {
				return nil, false
			}
			out = append(out, strings.ReplaceAll(r, "*", ".*"))
		}
	}
	for _, r := range out {
		p, ok := resolved(r, &b)
		if !ok {
			return nil, false
		}
		if p != r {
			out = append(out, p)
		}
		if strings.ContainsRune(r, '%') && strings.Contains(r, ":/") { // a URL's escapes
			if u, err := url.PathUnescape(r); err == nil && u != r {
				if !b.take(u) {
					return nil, false
				}
				out = append(out, strings.ToLower(u))
			}
		}
	}
	return out, true
}

// equivalence is a bracket of one equivalence class or collating symbol
// ([[=e=]], [[.e.]]), which matches that character; extglob a pattern of
// bash's extglob (@(a|b), ?(a), +(a), *(a)), read as the choice of its
// alternatives (and none).
var (
	equivalence = regexp.MustCompile(`\[\[[=.](.)[=.]\]\]`)
	extglob     = regexp.MustCompile(`[@?+*!]\([^()]*\)`)
)

// budget is what is left of the bounds of one value's readings.
type budget struct{ texts, bytes, work int }

// spend charges the work of reading s once more (every step of an
// expansion reads its whole text), and reports whether b covers it.
func (b *budget) spend(s string) bool {
	b.work -= len(s) + 1
	return b.work >= 0
}

// take spends s on b, and reports whether b covers it.
func (b *budget) take(s string) bool {
	b.texts--
	b.bytes -= len(s)
	return b.texts >= 0 && b.bytes >= 0
}

// shellNormal reads s as bash reads its quotes, and normalises it:
//   - outside quotes, a backslash escapes what follows (a line break it
//     continues), $'...' is decoded (\x65 is e), an empty $() or two
//     backquotes are nothing, and a backquote separates commands;
//   - inside quotes (and what $'...' decodes to), what is shell syntax
//     elsewhere (blanks, braces, commas, ; & | < > ( ), and in single
//     quotes $ and backquotes) is a plain character, written "_";
//   - look-alikes are folded, except into shell syntax, which bash does
//     not read in them: a no-break space is no blank, a fullwidth brace no
//     brace; letters are lower case; runs of blanks are one; "//" and
//     "/./" are one "/".
func shellNormal(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	var last rune
	put := func(r rune, quoted bool) {
		switch {
		case quoted && isSyntax(r):
			r = '_'
		case r == '/' && last == '/', r == ' ' && last == ' ':
			return
		}
		last = r
		b.WriteRune(r)
	}
	quote := byte(0) // the open quote, if any
	// A $( inside double quotes is a command of its own, unquoted, until
	// its ")": outer holds the quotes to go back to, parens the depth.
	var outer []byte
	parens := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case quote == '"' && strings.HasPrefix(s[i:], "$(") && !strings.HasPrefix(s[i:], "$()"):
			outer, quote, parens = append(outer, quote), 0, 0
			put('$', false)
			put('(', false)
			i += 2
			continue
		case quote == 0 && len(outer) > 0 && c == '(':
			parens++
		case quote == 0 && len(outer) > 0 && c == ')' && parens > 0:
			parens--
		case quote == 0 && len(outer) > 0 && c == ')':
			put(')', false)
			quote, outer = outer[len(outer)-1], outer[:len(outer)-1]
			i++
			continue
		}
		switch {
		case quote == 0 && strings.HasPrefix(s[i:], "$'"):
			text, n := ansiC(s[i+2:])
			for _, r := range text {
				put(normalRune(r), true)
			}
			i += 2 + n
			continue
		case quote == 0 && strings.HasPrefix(s[i:], "$\""):
			quote = '"' // a translated string
			i += 2
			continue
		case quote != '\'' && (c == '$' || c == '`') && emptyExpansion(s[i:]) > 0:
			if strings.HasPrefix(s[i:], "${IFS}") || strings.HasPrefix(s[i:], "$IFS") {
				put(' ', false) // the blanks IFS holds
			}
			i += emptyExpansion(s[i:])
			continue
		case quote == 0 && (c == '\'' || c == '"'):
			quote = c
			i++
			continue
		case quote != 0 && c == quote:
			quote = 0
			i++
			continue
		case quote != '\'' && c == '\\':
			i++
			if i < len(s) && s[i] == '\n' {
				i++ // a continued line
				continue
			}
			if i < len(s) && s[i] < utf8.RuneSelf {
				put(normalRune(rune(s[i])), quote != 0 || isSyntax(rune(s[i])))
				i++
			}
			continue
		case quote != '\'' && c == '`':
			put(';', false)
			i++
			continue
		}
		r, size := rune(c), 1
		if c >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
			if f := normalRune(r); isSyntax(f) || f == '\\' || f == '\'' || f == '"' || f == '`' || f == '\n' || f == '\t' {
				r = '_' // folds into syntax, which bash does not read in it
			} else {
				r = f
			}
		} else {
			r = normalRune(r)
		}
		i += size
		put(r, quote != 0)
	}
	return collapseDots(b.String())
}

// normalRune folds r (see fold.Rune) and lowers its case; a tab is a blank.
func normalRune(r rune) rune {
	if r >= utf8.RuneSelf {
		r = unicode.ToLower(fold.Rune(r))
	} else if r >= 'A' && r <= 'Z' {
		r += 'a' - 'A'
	}
	if r == '\t' {
		r = ' '
	}
	return r
}

// isSyntax reports whether r is shell syntax outside quotes.
func isSyntax(r rune) bool { return strings.ContainsRune(" \n{},;&|<>()$`", r) }

// emptyExpansion returns the length of the expansion that s starts with
// when it expands to nothing in a script that has no arguments: a
// substitution of no command, or of one that prints nothing ($(), $( ),
// $(:), $(true), and the same in backquotes), $@, $* and IFS's blanks
// (${IFS}, $IFS); 0 otherwise.
func emptyExpansion(s string) int {
	for _, v := range []string{"$@", "$*", "${IFS}", "$IFS", "${@}", "${*}"} {
		if strings.HasPrefix(s, v) {
			return len(v)
		}
	}
	open, closing := "$(", ")"
	if s[0] == '`' {
		open, closing = "`", "`"
	}
	if !strings.HasPrefix(s, open) {
		return 0
	}
	k := strings.Index(s[len(open):], closing)
	if k < 0 || k > 16 {
		return 0
	}
	switch strings.TrimSpace(s[len(open) : len(open)+k]) {
	case "", ":", "true":
		return len(open) + k + len(closing)
	}
	return 0
}

// expandBraces returns s with its brace expressions expanded as bash
// expands them: a comma list within one word ({a,b}, {,x}), nested, or a
// sequence of integers or letters ({1..3}, {a..e}, {1..9..2}); a brace
// without either, or after "$" (${HOME}), is kept as written. A sequence
// longer than maxSequence is read by its ends and the octets a metadata
// address is made of (169, 254, 100, 200) within it, unless it is part of
// a longer number (28520{00000..99999}), which passes the bounds. ok is
// false when the expansion passes the bounds of b.
func expandBraces(s string, b *budget) (out []string, ok bool) {
	for {
		if !strings.ContainsRune(s, '{') {
			return []string{s}, b.take(s) // most values: no brace to look for
		}
		if strings.Count(s, "{") > maxBraces || !b.spend(s) {
			return nil, false
		}
		i, j, alts, ok := firstBrace(s)
		if !ok {
			return nil, false
		}
		if i < 0 {
			return []string{s}, b.take(s)
		}
		if len(alts) == 1 {
			s = s[:i] + alts[0] + s[j+1:] // {a}, {1..1}: no branch
			continue
		}
		for _, a := range alts {
			more, ok := expandBraces(s[:i]+a+s[j+1:], b)
			if !ok {
				return nil, false
			}
			out = append(out, more...)
		}
		return out, true
	}
}

// firstBrace finds the first brace expression of s that expands: its
// "{" at i, its "}" at j, and what it expands to; i is -1 when there is
// none. ok is false for a long sequence inside a number (see
// expandBraces). One pass: each "{" is matched with its "}" by a stack.
func firstBrace(s string) (i, j int, alts []string, ok bool) {
	type open struct {
		at, blank int // the "{", and the last blank before it
		commas    []int
	}
	type pair struct {
		open
		close int
	}
	var stack []open
	var pairs []pair
	blank := -1 // the last blank so far
	for k := 0; k < len(s); k++ {
		switch s[k] {
		case ' ', '\n':
			blank = k
		case '{':
			at := k
			if k > 0 && s[k-1] == '$' {
				at = -1 // ${x}: no brace expression, but its "}" is its own
			}
			stack = append(stack, open{at: at, blank: blank})
		case ',':
			if len(stack) > 0 {
				stack[len(stack)-1].commas = append(stack[len(stack)-1].commas, k)
			}
		case '}':
			if len(stack) > 0 {
				o := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				// bash expands a brace within one word only: { env; }
				if o.at >= 0 && blank < o.at {
					pairs = append(pairs, pair{o, k})
				}
			}
		}
	}
	// The first "{" (by position) that expands: bash reads left to right.
	best := pair{open: open{at: -1}}
	for _, p := range pairs {
		if best.at >= 0 && p.at > best.at {
			continue
		}
		if len(p.commas) == 0 && !isSequence(s[p.at+1:p.close]) {
			continue
		}
		best = p
	}
	if best.at < 0 {
		return -1, 0, nil, true
	}
	i, j = best.at, best.close
	if len(best.commas) > 0 {
		start := i + 1
		for _, c := range append(best.commas, j) {
			alts = append(alts, s[start:c])
			start = c + 1
		}
		return i, j, alts, true
	}
	items, long := sequence(s[i+1 : j])
	if long && (i > 0 && isDigitByte(s[i-1]) || j+1 < len(s) && isDigitByte(s[j+1])) {
		return 0, 0, nil, false
	}
	return i, j, items, true
}

// isSequence reports whether body is the inside of a sequence expression.
func isSequence(body string) bool {
	if len(body) > 48 {
		return false
	}
	_, ok := parseSequence(body)
	return ok
}

// seq is a parsed sequence expression: from, to and step, and whether its
// ends are letters.
type seq struct {
	from, to, step int64
	letters        bool
}

// bound is the largest end of a sequence read as a number; past it the
// ends are read as written.
const bound = 1 << 40

// parseSequence parses the inside of a sequence expression (1..3, a..e,
// 1..9..2).
func parseSequence(body string) (seq, bool) {
	parts := strings.Split(body, "..")
	if len(parts) != 2 && len(parts) != 3 {
		return seq{}, false
	}
	q := seq{step: 1}
	if len(parts) == 3 {
		n, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil {
			return seq{}, false
		}
		q.step = max(n, -n, 1)
		if q.step > bound {
			q.step = bound
		}
	}
	a, errA := strconv.ParseInt(parts[0], 10, 64)
	c, errC := strconv.ParseInt(parts[1], 10, 64)
	if errA == nil && errC == nil {
		q.from, q.to = max(min(a, bound), -bound), max(min(c, bound), -bound)
		return q, true
	}
	if len(parts[0]) == 1 && len(parts[1]) == 1 && parts[0][0] < utf8.RuneSelf && parts[1][0] < utf8.RuneSelf &&
		isLetter(parts[0][0]) && isLetter(parts[1][0]) {
		q.from, q.to, q.letters = int64(parts[0][0]), int64(parts[1][0]), true
		return q, true
	}
	return seq{}, false
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// sequence expands the inside of a sequence expression (see parseSequence):
// whole when it has at most maxSequence items, else its ends and the
// octets 100, 169, 200 and 254 within it (long).
func sequence(body string) (items []string, long bool) {
	q, _ := parseSequence(body)
	dir := int64(1)
	if q.to < q.from {
		dir = -1
	}
	count := (q.to-q.from)*dir/q.step + 1
	item := func(k int64) string {
		if q.letters {
			return string(rune(k))
		}
		return strconv.FormatInt(k, 10)
	}
	if count > maxSequence {
		items = []string{item(q.from), item(q.to)}
		for _, o := range []int64{100, 169, 200, 254} {
			if lo, hi := min(q.from, q.to), max(q.from, q.to); !q.letters && lo < o && o < hi {
				items = append(items, item(o))
			}
		}
		return items, true
	}
	for k, n := q.from, int64(0); n < count; k, n = k+dir*q.step, n+1 {
		items = append(items, item(k))
	}
	return items, false
}

// expandRanges expands curl's URL globbing, which curl reads even in a
// quoted URL: sets ({a,b}, and {a} alone) and ranges of numbers or
// letters with an optional step ([1-3], [a-c], [1-9:2]). ok is false when
// the expansion passes the bounds of b.
func expandRanges(s string, b *budget) ([]string, bool) {
	if strings.Count(s, "{")+strings.Count(s, "[") > maxBraces || !b.spend(s) {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '[' && s[i] != '{' {
			continue
		}
		closing := map[byte]byte{'[': ']', '{': '}'}[s[i]]
		j := strings.IndexByte(s[i:], closing)
		if j < 0 {
			continue
		}
		j += i
		var items []string
		if s[i] == '{' {
			items = strings.Split(s[i+1:j], ",")
		} else {
			body, step, _ := strings.Cut(s[i+1:j], ":")
			from, to, ok := strings.Cut(body, "-")
			if !ok {
				continue
			}
			spec := from + ".." + to
			if step != "" {
				spec += ".." + step
			}
			if !isSequence(spec) {
				continue
			}
			items, _ = sequence(spec)
		}
		var out []string
		for _, it := range items {
			more, ok := expandRanges(s[:i]+it+s[j+1:], b)
			if !ok {
				return nil, false
			}
			out = append(out, more...)
		}
		return out, true
	}
	return []string{s}, b.take(s)
}

// resolved returns n, a normalised command line, with its paths as the
// shell and the commands reach them: cleaned (/etc/ssl/../shadow,
// /etc//shadow), and a relative one joined to the directory a cd or pushd
// before it went to (cd /proc/self && cat environ), or that a -C option
// names (tar -C ~ .aws, -C/etc, --directory=/etc), also after an option's
// "=" or "@" (dd if=shadow, curl -d @shadow). n itself when nothing
// changes. It is a reading besides n, never instead of it: every word
// after a cd is joined, the command's name too, which errs toward
// finding. ok is false when it passes the bounds of b.
func resolved(n string, b *budget) (string, bool) {
	if !strings.Contains(n, "cd") && !strings.Contains(n, "pushd") && !strings.Contains(n, "-c") && !strings.Contains(n, "--directory") &&
		!strings.Contains(n, "/..") && !strings.Contains(n, "//") {
		return n, true
	}
	words := tokens(n)
	cwd, changed, size := "", false, 0
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case (w == "cd" || w == "pushd") && (i+1 == len(words) || isOperator(words[i+1])):
			cwd = "~" // cd alone goes home
		case w == "cd" || w == "pushd":
			for i+1 < len(words) && strings.HasPrefix(words[i+1], "-") && !isOperator(words[i+1]) && i+2 < len(words) {
				i++ // cd -P, cd --
			}
			i++
			cwd = join(cwd, words[i])
		case w == "-c" || w == "--directory":
			if i+1 < len(words) && !isOperator(words[i+1]) && strings.ContainsAny(words[i+1][:1], "/~.") {
				// -c is -C (tar, git, make) when a directory follows:
				// the text is in lower case by now.
				i++
				cwd = join(cwd, words[i])
			}
		case strings.HasPrefix(w, "--directory="):
			cwd = join(cwd, strings.TrimPrefix(w, "--directory="))
		case strings.HasPrefix(w, "-c/") || strings.HasPrefix(w, "-c~"):
			cwd = join(cwd, w[2:])
		case cwd != "" && strings.HasPrefix(w, "/proc/self/cwd/"):
			words[i], changed = join(cwd, strings.TrimPrefix(w, "/proc/self/cwd/")), true
		case isOperator(w) || w[0] == '-' && !strings.ContainsAny(w, "=@") || w[0] == '$' || strings.Contains(w, ":/"):
		default:
			k := strings.LastIndexAny(w, "=@") + 1 // dd if=shadow, curl -d @shadow
			if k < len(w) {
				if p := join(cwd, w[k:]); p != w[k:] {
					words[i], changed = w[:k]+p, true
				}
			}
		}
		if len(cwd) > maxDir {
			return "", false
		}
		if size += len(words[i]) + 1; size > b.bytes {
			return "", false
		}
	}
	if !changed {
		return n, true
	}
	out := strings.Join(words, " ")
	return out, b.take(out)
}

// join is the path p reaches from directory dir ("" when unknown),
// cleaned.
func join(dir, p string) string {
	if p == "" {
		return dir
	}
	if dir != "" && p[0] != '/' && p[0] != '~' {
		p = dir + "/" + p
	}
	if strings.Contains(p, "/") {
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
