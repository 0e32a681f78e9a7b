package redact

import (
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
// detector written for plain text finds what the encoding hides. from[i]
// and to[i] are the offsets in the original of the sequence that the
// view's byte i was decoded from (int32: a view costs eight bytes a byte,
// and an answer is at most 6 MB).
type view struct {
	text     string
	from, to []int32
}

// maxDecodeRounds bounds how often an encoding of an encoding (%2540) is
// undone.
const maxDecodeRounds = 2

// newView returns the view of s. Plain ASCII with nothing to decode, most
// text, is its own view and costs nothing.
func newView(s string) view {
	v, _ := readView(s)
	return v
}

// readView returns the view of s, and whether it is whole: false when s
// is encoded more than maxDecodeRounds deep (a further round would still
// change the view), so that what it hides was not read.
func readView(s string) (view, bool) {
	v := view{text: s}
	for round := 0; needsDecoding(v.text); round++ {
		next, changed := decodeOnce(v.text)
		if !changed {
			break
		}
		if round == maxDecodeRounds {
			return v, false
		}
		v = v.compose(next)
	}
	return v, true
}

// source maps a span of the view to the span of the original it came from.
func (v view) source(a, b int) (int, int) {
	if v.from == nil {
		return a, b
	}
	return int(v.from[a]), int(v.to[b-1])
}

// compose returns next, a view of v.text, as a view of v's original.
func (v view) compose(next view) view {
	if v.from == nil {
		return next
	}
	out := view{text: next.text, from: make([]int32, len(next.from)), to: make([]int32, len(next.to))}
	for i := range next.from {
		out.from[i] = v.from[next.from[i]]
		out.to[i] = v.to[next.to[i]-1]
	}
	return out
}

// Read returns s as a model reads it: its view's text (see view).
func Read(s string) string { return newView(s).text }

// Plain reports whether s is its own view: ASCII with nothing to decode.
// A finder that finds nothing in s finds nothing in its view either.
func Plain(s string) bool { return !needsDecoding(s) }

func needsDecoding(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '%' || c == '&' || c == '\\' || c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// decodeOnce decodes one layer of s.
func decodeOnce(s string) (view, bool) {
	var b strings.Builder
	b.Grow(len(s))
	from, to := make([]int32, 0, len(s)), make([]int32, 0, len(s))
	changed := false
	emit := func(text string, start, end int) {
		b.WriteString(text)
		for range len(text) {
			from, to = append(from, int32(start)), append(to, int32(end))
		}
	}
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf && c != '%' && c != '&' && c != '\\' {
			// ASCII that starts no escape is itself: no format
			// character, mark or look-alike is ASCII. Decoded binary
			// runs are mostly this and the invalid bytes below.
			emit(s[i:i+1], i, i+1)
			i++
			continue
		}
		if text, n := decodeAt(s, i); n > 0 {
			emit(text, i, i+n)
			changed = true
			i += n
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			emit(s[i:i+1], i, i+1) // an invalid byte: read as it is
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
			emit(s[i:i+size], i, i+size)
		}
		i += size
	}
	return view{text: b.String(), from: from, to: to}, changed
}

// decodeAt decodes an escape sequence at s[i:], returning the text it
// stands for and its length, or 0 if there is none.
func decodeAt(s string, i int) (string, int) {
	switch s[i] {
	case '%':
		if i+2 < len(s) {
			if c, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				return string([]byte{byte(c)}), 3
			}
		}
	case '&':
		return decodeEntity(s, i)
	case '\\':
		if i+1 >= len(s) {
			return "", 0
		}
		switch s[i+1] {
		// JSON's escapes, and markdown's: a backslash before ASCII
		// punctuation (billing\_\_\_refund) is read as the punctuation.
		case '/', '\\', '"', '\'', '_', '*', '`', '-', '.', '#', '[', ']', '(', ')', '{', '}', '<', '>', '!', '|', '~', '+', '=', ':', '@':
			return s[i+1 : i+2], 2
		case 'n':
			return "\n", 2
		case 't':
			return "\t", 2
		case 'r':
			return "\r", 2
		case 'u':
			r, n := decodeUnicodeEscape(s, i)
			if n > 0 {
				return string(r), n
			}
			if r, n := decodeBraced(s, i); n > 0 {
				return string(r), n
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
					return string(rune(c)), 2 + digits
				}
			}
		}
	}
	return "", 0
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
	"amp": "&", "lt": "<", "gt": ">", "quot": `"`, "apos": "'", "nbsp": " ", "commat": "@", "period": ".",
	"sol": "/", "colon": ":", "equals": "=", "plus": "+", "hyphen": "-", "dash": "-", "lowbar": "_", "percnt": "%",
	"num": "#", "excl": "!", "dollar": "$", "Tab": "\t", "NewLine": "\n", "UnderBar": "_",
	"lsqb": "[", "lbrack": "[", "rsqb": "]", "rbrack": "]", "lcub": "{", "lbrace": "{", "rcub": "}", "rbrace": "}",
	// Format characters, which show nothing (see decodeOnce).
	"shy": "", "ZeroWidthSpace": "", "zwj": "", "zwnj": "", "NoBreak": "",
}

func decodeEntity(s string, i int) (string, int) {
	if i+2 < len(s) && s[i+1] == '#' {
		// A numeric reference, its ";" optional as browsers read it
		// (&#95 is an underscore).
		j, base := i+2, 10
		if s[j] == 'x' || s[j] == 'X' {
			j, base = j+1, 16
		}
		c, k := number(s, j, base)
		if c == 0 {
			return "", 0
		}
		if k < len(s) && s[k] == ';' {
			k++
		}
		return string(c), k - i
	}
	end := strings.IndexByte(s[i:min(len(s), i+12)], ';')
	if end < 2 {
		return "", 0
	}
	name := s[i+1 : i+end]
	if text, ok := entities[name]; ok {
		return text, end + 1
	}
	return "", 0
}

// ReplaceAll returns s with every span that find reports in the view of s
// (s as a model reads it: see view) replaced by with, and the number
// replaced. It is how a finder that is not a detector (the hidden tool
// names of a list answer) gets past the same encodings. whole is false
// when s is encoded deeper than a view reads (see readView): a finder
// that must miss nothing then cannot use the answer.
func ReplaceAll(s string, find func(text string) [][2]int, with string) (out string, n int, whole bool) {
	v, whole := readView(s)
	spans := find(v.text)
	if len(spans) == 0 {
		return s, 0, whole
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		a, z := v.source(sp[0], sp[1])
		if a < last {
			continue
		}
		b.WriteString(s[last:a])
		b.WriteString(with)
		last = z
	}
	b.WriteString(s[last:])
	return b.String(), len(spans), whole
}
