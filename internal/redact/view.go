package redact

import (
	"html"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/toolgate/toolgate/internal/fold"
)

// view is a string as a model reads it: percent-encoding (%40), HTML
// character references (&#64;, &commat;), JSON string escapes (\/, \u0040,
// \n) and markdown's backslash escapes (\_) decoded, format characters
// (zero-width space, soft hyphen), combining marks and Hangul fillers
// dropped and look-alike characters folded (＠, ４, NBSP), so that a
// detector written for plain text finds what the encoding hides. segs map
// each byte of text to the sequence of the original it was decoded from
// (see source); nil when text is the original.
type view struct {
	text string
	segs []seg
	// refs: the text holds a numeric reference without its ";" that
	// asciiRefs reads otherwise (see readViews). long: it holds a tag
	// too long to read through (see tagAt).
	refs, long bool
	// ways are the ways it was read in.
	ways ways
}

// seg maps the view's bytes v to v+n-1 to the original. A run copied from
// the original's s on (end < 0) maps each byte to the rune that holds it,
// as utf8 decodes the run (a byte past ASCII to its whole rune, an invalid
// one to itself); a run decoded from the original's s to end-1 (an escape,
// a look-alike) maps each byte to that sequence. Runs, not a pair of
// offsets for every byte: a view of a 6 MB text with one escape cost 48 MB
// a round, and now costs three runs.
type seg struct {
	v, n, s, end int32
}

// maxDecodeRounds bounds how often an encoding of an encoding (%2540) is
// undone.
const maxDecodeRounds = 3

// readViews returns the views a text is read in. A model reads markup
// both ways: bi<b>ll</b>ing as billing, and <password>x</password> as a
// field named password; and a numeric reference without its ";" both
// ways: &#x5fde as 忞 (as a browser) or as _ and "de", and &#65343 as ＿.
// So the text is read as written, then, where it holds markup once
// decoded (&lt;b&gt; is a tag too) or such a reference, in each other
// way: at most four views, one for most text. reading is the least any
// reads.
func readViews(s string) ([]view, reading) {
	v, r := readView(s, 0)
	if r == flooded {
		return []view{v}, r
	}
	// Each way a view calls for, read, until none calls for more: a
	// reference read as ASCII can make a tag (&#x3cb> is <b>), and a
	// tag read through can join a reference (&<b></b>#x5f).
	views, seen := []view{v}, map[ways]bool{0: true}
	for k := 0; k < len(views); k++ {
		var more []ways
		if markup(views[k].text) {
			more = append(more, views[k].ways|rendered)
		}
		if views[k].refs {
			more = append(more, views[k].ways|asciiRefs)
		}
		for _, w := range more {
			if !seen[w] {
				seen[w] = true
				t, rt := readView(s, w)
				views, r = append(views, t), max(r, rt)
			}
		}
	}
	return views, r
}

// ways are the ways a text is read besides as written.
type ways uint8

const (
	// rendered reads through HTML tags and comments, and a markdown
	// link's target: what a page shows.
	rendered ways = 1 << iota
	// asciiRefs reads a numeric reference without its ";" as the
	// longest first digits that make a printable ASCII character.
	asciiRefs
)

// markup reports whether s may hold HTML, XML or a markdown link.
func markup(s string) bool {
	return strings.ContainsAny(s, "<[]")
}

// reading says how much of a text its view reads.
type reading int

const (
	// whole: every layer.
	whole reading = iota
	// deep: maxDecodeRounds layers, and a further one would change it.
	deep
	// flooded: nothing; the text holds more than maxSegs sequences to
	// decode in one layer, and its view is the text itself.
	flooded
)

// maxSegs bounds the runs of one layer of a view, and so its memory: a
// text of two million escapes, 6 MB, took 330 MB to read. 256 Ki runs
// (4 MB) is an escape every 24 bytes of a 6 MB text.
const maxSegs = 256 << 10

// readView returns the view of s read in ways w, and how much of s it
// reads. Plain ASCII with nothing to decode, most text, is its own view
// and costs nothing.
func readView(s string, w ways) (view, reading) {
	v := view{text: s}
	refs := false // a reference read so reads differently as ASCII
	long := false // markup too long to read through: the view reads on, not whole
	for round := 0; needsDecoding(v.text); round++ {
		next, changed, ok := decodeOnce(v.text, w)
		if !ok {
			return view{text: s}, flooded
		}
		refs, long = refs || next.refs, long || next.long
		if !changed {
			break
		}
		if round == maxDecodeRounds {
			v.refs, v.ways = refs, w
			return v, deep
		}
		v = v.compose(next)
	}
	v.refs, v.ways = refs, w
	if long {
		return v, deep
	}
	return v, whole
}

// source maps a span of the view to the span of the original it came from.
func (v view) source(a, b int) (int, int) {
	if v.segs == nil {
		return a, b
	}
	return v.from(int32(a)), v.to(int32(b - 1))
}

// at returns the index of the seg holding the view's byte i.
func (v view) at(i int32) int {
	k, _ := slices.BinarySearchFunc(v.segs, i, func(g seg, i int32) int {
		switch {
		case g.v+g.n <= i:
			return -1
		case g.v > i:
			return 1
		}
		return 0
	})
	return k
}

// origin returns where the sequence the view's byte i came from starts
// and ends in the original.
func (v view) origin(i int32) (int, int) {
	g := v.segs[v.at(i)]
	if g.end >= 0 {
		return int(g.s), int(g.end)
	}
	start, end := runeAt(v.text, g.v, g.v+g.n, i)
	return int(g.s + start - g.v), int(g.s + end - g.v)
}

// from and to are where the sequences of the view's bytes i start and end.
func (v view) from(i int32) int { a, _ := v.origin(i); return a }
func (v view) to(i int32) int   { _, z := v.origin(i); return z }

// runeAt returns where the rune of s[lo:hi] that holds byte i starts and
// ends, reading s[lo:hi] as utf8 decodes it from lo: the nearest rune
// start at or before i begins it, if it decodes to a rune that reaches i.
func runeAt(s string, lo, hi, i int32) (int32, int32) {
	if s[i] < utf8.RuneSelf {
		return i, i + 1
	}
	for b := i; b >= max(lo, i-utf8.UTFMax+1); b-- {
		if utf8.RuneStart(s[b]) {
			if _, size := utf8.DecodeRuneInString(s[b:hi]); b+int32(size) > i {
				return b, b + int32(size)
			}
			break
		}
	}
	return i, i + 1
}

// compose returns next, a view of v.text, as a view of v's original.
func (v view) compose(next view) view {
	if v.segs == nil {
		return next
	}
	out := make(segs, 0, len(next.segs)+len(v.segs))
	for _, x := range next.segs {
		if x.end >= 0 { // decoded from v.text's x.s to x.end-1
			out.add(seg{x.v, x.n, int32(v.from(x.s)), int32(v.to(x.end - 1))})
			continue
		}
		// Copied from v.text's x.s on: through each of v's runs that
		// holds a part of it, up to the last rune within the run; a rune
		// across two of v's runs (é from %C3%A9) maps to what both hold.
		end := x.s + x.n
		for p := x.s; p < end; {
			y := v.segs[v.at(p)]
			q := min(end, y.v+y.n)
			if start, stop := runeAt(v.text, x.s, end, q-1); stop > q {
				q = start // the rune at the run's end goes on past it
			}
			if q > p {
				if y.end >= 0 {
					out.add(seg{x.v + p - x.s, q - p, y.s, y.end})
				} else {
					out.add(seg{x.v + p - x.s, q - p, y.s + p - y.v, -1})
				}
				p = q
				continue
			}
			_, stop := runeAt(v.text, x.s, end, p)
			out.add(seg{x.v + p - x.s, stop - p, int32(v.from(p)), int32(v.to(stop - 1))})
			p = stop
		}
	}
	return view{text: next.text, segs: out}
}

// segs is a view's runs as they are built.
type segs []seg

// add appends g, joined to the last run when both are copied and g goes
// on where it ended, in the view and in the original.
func (r *segs) add(g seg) {
	if n := len(*r); n > 0 && g.end < 0 {
		if l := &(*r)[n-1]; l.end < 0 && l.v+l.n == g.v && l.s+l.n == g.s {
			l.n += g.n
			return
		}
	}
	if len(*r) == cap(*r) {
		// Doubled, not grown by a quarter as append grows a large
		// slice: a text of 2 million escapes copied its runs twenty
		// times over.
		*r = slices.Grow(*r, max(len(*r), 16))
	}
	*r = append(*r, g)
}

// Read returns s as a model reads it: its view's text (see view).
func Read(s string) string {
	v, _ := readView(s, 0)
	return v.text
}

// Plain reports whether s is its own view: ASCII with nothing to decode.
// A finder that finds nothing in s finds nothing in its view either.
func Plain(s string) bool { return !needsDecoding(s) }

func needsDecoding(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || starts(c) {
			return true
		}
	}
	return false
}

// decodeOnce decodes one layer of s, and says whether that changed it; ok
// is false past maxSegs runs, where it stops.
func decodeOnce(s string, w ways) (v view, changed, ok bool) {
	var b strings.Builder
	b.Grow(len(s))
	var out segs
	m := scan{s: s, nextClose: -1, nextPar: -1}
	// emit writes text, decoded from s[start:end]; same copies s[i].
	emit := func(text string, start, end int) {
		if text != "" {
			out.add(seg{int32(b.Len()), int32(len(text)), int32(start), int32(end)})
			b.WriteString(text)
		}
	}
	same := func(i int) {
		out.add(seg{int32(b.Len()), 1, int32(i), -1})
		b.WriteByte(s[i])
	}
	for i := 0; i < len(s); {
		if len(out) > maxSegs {
			return view{}, true, false
		}
		if c := s[i]; c < utf8.RuneSelf && !starts(c) {
			// ASCII that starts no escape is itself: no format
			// character, mark or look-alike is ASCII. Decoded binary
			// runs are mostly this and the invalid bytes below.
			same(i)
			i++
			continue
		}
		if n := markupAt(s, i, w, &m); n != 0 {
			if m.over() {
				return view{}, true, false // a text of "<": not read
			}
			if n > 0 {
				emit("", i, i+n)
				changed = true
				i += n
				continue
			}
			v.long = true
		}
		if text, n, alt := decodeAt(s, i, w); n > 0 {
			v.refs = v.refs || alt
			emit(text, i, i+n)
			changed = true
			i += n
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			same(i) // an invalid byte: read as it is
			i++
			continue
		}
		if x, ok := fold.Expand(r); ok {
			emit(x, i, i+size) // ﬁ, Ⅱ
			changed = true
		} else if f := fold.Rune(r); f != r {
			// A look-alike, or a tag character, which spells ASCII
			// invisibly (before the format characters, which it is).
			emit(string(f), i, i+size)
			changed = true
		} else if unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || r == '\u3164' || r == '\u115f' || r == '\u1160' || r == '\uffa0' {
			// A format character (zero-width space, word joiner, soft
			// hyphen), a combining mark or variation selector (U+034F,
			// U+FE0F, an accent), a Hangul filler: each shows nothing, or
			// nothing a token's reader minds, and a model reads the text
			// without it.
			emit("", i, i+size)
			changed = true
		} else {
			out.add(seg{int32(b.Len()), int32(size), int32(i), -1}) // its bytes map to it whole
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return view{text: b.String(), segs: out, refs: v.refs, long: v.long}, changed, true
}

// starts reports whether c may start a sequence decodeAt decodes: an
// escape, or markup a model reads through.
func starts(c byte) bool {
	return c == '%' || c == '&' || c == '\\' || c == '<' || c == '[' || c == ']' || c == '!' || c == '*' || c == '`' || c == '~'
}

// decodeAt decodes an escape sequence at s[i:], returning the text it
// stands for and its length, or 0 if there is none; with tags, an HTML
// tag stands for nothing.
func decodeAt(s string, i int, w ways) (text string, n int, alt bool) {
	switch s[i] {
	case '%':
		if i+2 < len(s) {
			if c, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				return string([]byte{byte(c)}), 3, false
			}
		}
		if i+5 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') {
			// IIS's and JavaScript's escape(): %u0049.
			if c, err := strconv.ParseUint(s[i+2:i+6], 16, 16); err == nil && c > 0 {
				return string(rune(c)), 6, false
			}
		}
	case '*', '`':
		// Markdown's emphasis and code: **k8s**___x, `AKIA...`.
		return "", 1, false
	case '~':
		if i+1 < len(s) && s[i+1] == '~' {
			return "", 2, false // strike-through; a lone ~ is a home directory
		}
	case '&':
		return decodeEntity(s, i, w)
	case '\\':
		if i+1 >= len(s) {
			return "", 0, false
		}
		switch s[i+1] {
		// JSON's escapes, and markdown's: a backslash before ASCII
		// punctuation (billing\_\_\_refund) is read as the punctuation.
		case '/', '\\', '"', '\'', '_', '*', '`', '-', '.', '#', '[', ']', '(', ')', '{', '}', '<', '>', '!', '|', '~', '+', '=', ':', '@':
			return s[i+1 : i+2], 2, false
		case 'n':
			return "\n", 2, false
		case 't':
			return "\t", 2, false
		case 'r':
			return "\r", 2, false
		case 'u':
			r, n := decodeUnicodeEscape(s, i)
			if n > 0 {
				return string(r), n, false
			}
			if r, n := decodeBraced(s, i); n > 0 {
				return string(r), n, false
			}
		case '0', '1', '2', '3':
			// An octal escape (C's, bash's $'\137'): three digits.
			if i+4 <= len(s) {
				if c, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil && c > 0 {
					return string(rune(c)), 4, false
				}
			}
		case 'x', 'U':
			// Python's, JavaScript's and C's \x5f, Python's
			// \U0001D68D: a model reads them as the characters.
			digits := 2
			if s[i+1] == 'U' {
				digits = 8
			}
			if i+2+digits <= len(s) {
				if c, err := strconv.ParseUint(s[i+2:i+2+digits], 16, 32); err == nil && c > 0 && c <= utf8.MaxRune {
					return string(rune(c)), 2 + digits, false
				}
			}
		}
	}
	return "", 0, false
}

// decodeBraced decodes JavaScript's and Rust's \u{1D68D} at s[i:].
func decodeBraced(s string, i int) (rune, int) {
	if i+3 >= len(s) || s[i+2] != '{' {
		return 0, 0
	}
	c, k := number(s, i+3, 16)
	if c == 0 || k >= len(s) || s[k] != '}' {
		return 0, 0
	}
	return c, k + 1 - i
}

// number reads the number in base (10 or 16) at s[j:], as a browser
// reads a character reference's: any number of leading zeros (&#000064;
// is an @), then at most maxDigits digits. It returns the character, 0
// when there is none or it is past Unicode, and where the digits end.
func number(s string, j, base int) (rune, int) {
	z := j
	for z < len(s) && s[z] == '0' {
		z++
	}
	k := z
	for k < len(s) && k-z < maxDigits && (isDigit(s[k]) || base == 16 && isHexDigit(s[k])) {
		k++
	}
	if k == j {
		return 0, j
	}
	c, err := strconv.ParseUint(s[z:k], base, 32)
	if z == k || err != nil || c > utf8.MaxRune {
		return 0, k
	}
	return rune(c), k
}

// asciiPrefix returns the printable ASCII character that the longest
// prefix of the digits s[j:k] makes, past leading zeros, and where that
// prefix ends; 0 when none does.
func asciiPrefix(s string, j, k, base int) (rune, int) {
	z := j
	for z < k && s[z] == '0' {
		z++
	}
	for m := min(k, z+3); m > z; m-- { // 0x7e and 126 have three digits at most
		if c, err := strconv.ParseUint(s[z:m], base, 8); err == nil && c >= 0x20 && c < 0x7f {
			return rune(c), m
		}
	}
	return 0, 0
}

// maxTag is the longest HTML tag read through.
const maxTag = 4096

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// scan is what reading markup in one layer of a text keeps: where the
// next ">" and ")" are, found once and moved on (not looked for from each
// "<"), and how many bytes tags and links were scanned for, bounded
// (maxScan) so that no text of "<" buys time.
type scan struct {
	s                  string
	nextClose, nextPar int
	work               int
}

// next returns the index of the first c in s at or after i, len(s) when
// there is none; *at caches it.
func (m *scan) next(c byte, i int, at *int) int {
	if *at < i {
		if k := strings.IndexByte(m.s[i:], c); k >= 0 {
			*at = i + k
		} else {
			*at = len(m.s)
		}
	}
	return *at
}

// over reports whether the markup scanned so far is more than a text of
// len(s) may cost.
func (m *scan) over() bool { return m.work > 16*len(m.s)+16*maxTag }

// markupAt returns the length of the markup at s[i:] that a rendered
// reading reads through: an HTML tag, comment or processing instruction
// (<b>, </span>, <wbr>, <!-- -->, <?x?>: a page shows bi<b>ll</b>ing as
// billing), a CDATA section's markers (its content is text), or a
// markdown link's brackets, target and label (billing[___refund](x)_payment,
// [billing][r]___refund_payment and [billing]___refund_payment show as
// billing___refund_payment); 0 for none, -1 for one too long to read
// through. A bracket is read through wherever it is: no name or secret
// holds one.
func markupAt(s string, i int, w ways, m *scan) int {
	switch {
	case w&rendered == 0:
		return 0
	case s[i] == '<':
		if strings.HasPrefix(s[i:], cdata) {
			return len(cdata)
		}
		return tagAt(s, i, m)
	case s[i] == '[':
		return 1
	case s[i] == '!':
		if i+1 < len(s) && s[i+1] == '[' {
			return 2 // an image: ![alt](src) shows alt, or nothing
		}
	case s[i] == ']':
		if strings.HasPrefix(s[i:], "]]>") {
			return 3 // the end of a CDATA section
		}
		if n := linkAt(s, i, m); n != 0 {
			return n
		}
		if n := labelAt(s, i); n > 0 {
			return n
		}
		return 1
	}
	return 0
}

// cdata opens an XML CDATA section, whose content XML reads as text.
const cdata = "<![CDATA["

// labelAt returns the length of a reference link's "][label]" at s[i:]
// (CommonMark's full and collapsed forms: [text][ref], [text][]), a label
// being at most 999 characters without brackets; 0 for none.
func labelAt(s string, i int) int {
	if i+1 >= len(s) || s[i+1] != '[' {
		return 0
	}
	for k := i + 2; k < len(s) && k < i+2+999; k++ {
		switch s[k] {
		case ']':
			return k + 1 - i
		case '[':
			return 0
		case '\\':
			k++
		}
	}
	return 0
}

// tagAt returns the length of the HTML tag, comment or processing
// instruction at s[i:], as HTML's tokenizer reads one: a comment ends at
// "-->" or "--!>" (or at once, in "<!-->" and "<!--->"); a bogus comment
// ("<!x", "<?x", "</ ") at the first ">"; a tag at the first ">" after its
// name and attributes, where an attribute's value may be quoted (<b
// title=">">). 0: none; -1: one that would close past maxTag, which a
// reading cannot read through (see readView). Only what is scanned is
// charged to m.
func tagAt(s string, i int, m *scan) int {
	if i+1 >= len(s) || !(isLetter(s[i+1]) || s[i+1] == '/' || s[i+1] == '!' || s[i+1] == '?') {
		return 0
	}
	if m.next('>', i, &m.nextClose) == len(s) {
		return 0 // nothing closes it
	}
	limit := min(len(s), i+maxTag)
	if strings.HasPrefix(s[i:], "<!--") {
		switch rest := s[i+4:]; {
		case strings.HasPrefix(rest, ">"):
			return 5
		case strings.HasPrefix(rest, "->"):
			return 6
		}
		for k := i + 4; k+2 < limit; k++ {
			if s[k] == '-' && s[k+1] == '-' && (s[k+2] == '>' || s[k+2] == '!' && k+3 < len(s) && s[k+3] == '>') {
				m.work += k - i
				if s[k+2] == '>' {
					return k + 3 - i
				}
				return k + 4 - i
			}
		}
		m.work += limit - i
		return -1
	}
	bogus := s[i+1] == '!' || s[i+1] == '?' || s[i+1] == '/' && (i+2 >= len(s) || !isLetter(s[i+2]))
	if bogus || m.nextClose-i > maxTag {
		// A bogus comment ends at the first ">"; a tag whose first ">"
		// is past maxTag is not read through (and costs no scan).
		if m.nextClose-i > maxTag {
			return -1
		}
		return m.nextClose + 1 - i
	}
	// The tag's name, then its attributes: a name, and "=" and a value,
	// quoted or not, each; only a quoted value can hold a ">".
	k := i + 1
	for k < limit && !space(s[k]) && s[k] != '/' && s[k] != '>' {
		k++
	}
	for k < limit {
		for k < limit && (space(s[k]) || s[k] == '/') {
			k++
		}
		if k < limit && s[k] == '>' {
			m.work += k - i
			return k + 1 - i
		}
		start := k // an attribute's name; a "=" first is part of it
		for k < limit && !space(s[k]) && s[k] != '/' && s[k] != '>' && (s[k] != '=' || k == start) {
			k++
		}
		for k < limit && space(s[k]) {
			k++
		}
		if k >= limit || s[k] != '=' {
			continue
		}
		for k++; k < limit && space(s[k]); k++ {
		}
		if k < limit && (s[k] == '"' || s[k] == '\'') {
			q := s[k]
			for k++; k < limit && s[k] != q; k++ {
			}
			k++
			continue
		}
		for k < limit && !space(s[k]) && s[k] != '>' {
			k++
		}
	}
	m.work += limit - i
	return -1 // a ">" comes, but past maxTag or inside a quote
}

func space(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// linkAt returns the length of a markdown link's "](destination
// "title")" at s[i:], as CommonMark reads one: a destination in <...>,
// or one whose parentheses balance (a backslash escapes), then an
// optional title in quotes or parentheses. 0: none; -1: one that would
// close past maxTag.
func linkAt(s string, i int, m *scan) int {
	if i+1 >= len(s) || s[i+1] != '(' {
		return 0
	}
	if m.next(')', i, &m.nextPar) == len(s) {
		return 0
	}
	limit := min(len(s), i+maxTag)
	k := i + 2
	skip := func() {
		for k < limit && space(s[k]) {
			k++
		}
	}
	skip()
	if k < limit && s[k] == '<' {
		for k++; k < limit && s[k] != '>' && s[k] != '\n'; k++ {
			if s[k] == '\\' {
				k++
			}
		}
		k++
	} else {
		depth := 0
		for ; k < limit && !space(s[k]); k++ {
			if s[k] == '\\' {
				k++
				continue
			}
			if s[k] == '(' {
				depth++
			} else if s[k] == ')' {
				if depth == 0 {
					break
				}
				depth--
			}
		}
	}
	skip()
	if k < limit && (s[k] == '"' || s[k] == '\'' || s[k] == '(') {
		q := s[k]
		if q == '(' {
			q = ')'
		}
		for k++; k < limit && s[k] != q; k++ {
			if s[k] == '\\' {
				k++
			}
		}
		k++
		skip()
	}
	m.work += min(k, limit) - i
	if k < limit && s[k] == ')' {
		return k + 1 - i
	}
	if k >= limit && m.nextPar >= limit {
		return -1
	}
	return 0
}

// maxDigits is the most significant digits of a character reference or
// escape: 8 hex digits (\U0001D68D), 7 decimal ones.
const maxDigits = 8

// decodeUnicodeEscape decodes \uXXXX at s[i:], with a following low
// surrogate if it is a high one.
func decodeUnicodeEscape(s string, i int) (rune, int) {
	hex4 := func(j int) (rune, bool) {
		if j+6 > len(s) || s[j] != '\\' || s[j+1] != 'u' {
			return 0, false
		}
		c, err := strconv.ParseUint(s[j+2:j+6], 16, 16)
		return rune(c), err == nil
	}
	r, ok := hex4(i)
	if !ok {
		return 0, 0
	}
	if utf16.IsSurrogate(r) {
		if lo, ok := hex4(i + 6); ok {
			if pair := utf16.DecodeRune(r, lo); pair != utf8.RuneError {
				return pair, 12
			}
		}
		return 0, 0
	}
	return r, 6
}

// entities are the named HTML character references that spell the
// characters detectors look for.
var entities = map[string]string{
	"amp": "&", "lt": "<", "gt": ">", "quot": `"`, "AMP": "&", "LT": "<", "GT": ">", "QUOT": `"`, "apos": "'", "nbsp": " ", "commat": "@", "period": ".",
	"sol": "/", "colon": ":", "equals": "=", "plus": "+", "hyphen": "-", "dash": "-", "lowbar": "_", "percnt": "%",
	"num": "#", "excl": "!", "dollar": "$", "Tab": "\t", "NewLine": "\n", "UnderBar": "_",
	"lsqb": "[", "lbrack": "[", "rsqb": "]", "rbrack": "]", "lcub": "{", "lbrace": "{", "rcub": "}", "rbrace": "}",
	// Format characters and zero-width spaces, which show nothing (see
	// decodeOnce).
	"shy": "", "ZeroWidthSpace": "", "zwj": "", "zwnj": "", "NoBreak": "", "lrm": "", "rlm": "",
	"it": "", "ic": "", "af": "", "InvisibleTimes": "", "InvisibleComma": "", "ApplyFunction": "",
	"NegativeVeryThinSpace": "", "NegativeThinSpace": "", "NegativeMediumSpace": "", "NegativeThickSpace": "",
	// Spaces and dashes, as fold reads them.
	"ensp": " ", "emsp": " ", "emsp13": " ", "emsp14": " ", "numsp": " ", "puncsp": " ", "thinsp": " ", "hairsp": " ",
	"ThinSpace": " ", "VeryThinSpace": " ", "MediumSpace": " ", "ndash": "-", "mdash": "-", "minus": "-",
}

func decodeEntity(s string, i int, w ways) (string, int, bool) {
	if i+2 < len(s) && s[i+1] == '#' {
		// A numeric reference, its ";" optional as browsers read it
		// (&#95 is an underscore).
		j, base := i+2, 10
		if s[j] == 'x' || s[j] == 'X' {
			j, base = j+1, 16
		}
		c, k := number(s, j, base)
		if k < len(s) && s[k] == ';' {
			if c == 0 {
				return "", 0, false
			}
			return string(c), k + 1 - i, false
		}
		// Without its ";" a reference reads two ways: all its digits, as
		// a browser reads it (&#x5fde is 忞), or the character its first
		// digits make, the rest being text (&#x5f then "de"): names and
		// secrets are spelt in ASCII. asciiRefs reads the second.
		a, m := asciiPrefix(s, j, k, base)
		alt := m > 0 && m != k
		if w&asciiRefs != 0 && m > 0 {
			return string(a), m - i, alt
		}
		if c == 0 {
			return "", 0, alt
		}
		return string(c), k - i, alt
	}
	if end := strings.IndexByte(s[i:min(len(s), i+maxEntity)], ';'); end >= 2 {
		if text, ok := entities[s[i+1:i+end]]; ok {
			return text, end + 1, false
		}
		// Any other of HTML's names, as the standard library's table
		// (WHATWG's) has them: &Kappa; is a Greek capital kappa, which
		// the next round folds to K.
		if ref := s[i : i+end+1]; alphanumeric(ref[1:end]) {
			if text := html.UnescapeString(ref); text != ref {
				return text, end + 1, false
			}
		}
	}
	// The names a browser reads without their ";" (&shy, &amp), also
	// where a ";" comes later (&shyLE;).
	for _, name := range legacy {
		if strings.HasPrefix(s[i+1:], name) {
			return entities[name], len(name) + 1, false
		}
	}
	return "", 0, false
}

// alphanumeric reports whether s is ASCII letters and digits, as an
// entity's name is.
func alphanumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isLetter(s[i]) && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}

// legacy are the names of entities that browsers read without their ";",
// of those in entities.
var legacy = []string{"amp", "lt", "gt", "quot", "nbsp", "shy", "AMP", "LT", "GT", "QUOT"}

// maxEntity is the longest reference by name read, ";" included
// (&ZeroWidthSpace;).
const maxEntity = 32

// ReplaceAll returns s with every span that find reports in the view of s
// (s as a model reads it: see view) replaced by with, and the number
// replaced. It is how a finder that is not a detector (the hidden tool
// names of a list answer) gets past the same encodings. all is false
// when the view does not read all of s (see readView): a finder that must
// miss nothing then cannot use the answer.
func ReplaceAll(s string, find func(text string) [][2]int, with string) (out string, n int, all bool) {
	views, r := readViews(s)
	var spans [][2]int // in s
	for _, v := range views {
		for _, sp := range find(v.text) {
			a, z := v.source(sp[0], sp[1])
			spans = append(spans, [2]int{a, z})
		}
	}
	if len(spans) == 0 {
		return s, 0, r == whole
	}
	slices.SortFunc(spans, func(x, y [2]int) int { return x[0] - y[0] })
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		if sp[0] < last {
			last = max(last, sp[1]) // found in both readings, or overlapping
			continue
		}
		b.WriteString(s[last:sp[0]])
		b.WriteString(with)
		last = sp[1]
		n++
	}
	b.WriteString(s[last:])
	return b.String(), n, r == whole
}
