// Package fold maps the look-alike forms of ASCII characters that a model
// reads as the characters themselves (fullwidth and mathematical letters
// and digits, letters of other scripts drawn as Latin ones, Unicode spaces,
// asterisk variants) to those characters, so that a check written for "*",
// "@", "4111" or "k8s" is not passed by "＊", "＠", "４１１１" or "k8ѕ".
package fold

import (
	"slices"
	"strings"
)

// Rune returns the ASCII character r is read as, or r: its NFKC form
// (fullwidth and small forms, mathematical letters and digits, ſ, K, ﹍),
// a styled Latin letter or digit by its Unicode name (small capitals ʙ,
// squared 🅰, circled ❶), the letter a letter of another script is drawn
// as (Cyrillic ѕ, Greek Ο, Cherokee Ꭺ), a space for a space, "_" for a
// connector or low line (‿, ‗), "-" for a dash (—, ⁃), "*" for an
// asterisk (✱), and the ASCII a tag character spells invisibly. table.go
// holds them, generated from Unicode's data (see table_test.go).
func Rune(r rune) rune {
	if r < 0x80 {
		return r
	}
	if i, ok := slices.BinarySearchFunc(table[:], r, func(s span, r rune) int {
		switch {
		case s.hi < r:
			return -1
		case s.lo > r:
			return 1
		}
		return 0
	}); ok {
		s := table[i]
		return rune(s.to) + r - s.lo
	}
	return r
}

// Expand returns the ASCII characters r is read as when they are more
// than one (ﬁ, Ⅱ, ㎏, ⒜), and whether it is.
func Expand(r rune) (string, bool) {
	if r < 0x80 {
		return "", false
	}
	if i, ok := slices.BinarySearchFunc(expansions[:], r, func(e expansion, r rune) int { return int(e.r - r) }); ok {
		return expansions[i].s, true
	}
	return "", false
}

// span maps the runes lo to hi to the characters from to on.
type span struct {
	lo, hi rune
	to     byte
}

// expansion maps r to the characters s.
type expansion struct {
	r rune
	s string
}

// String returns s with every rune folded or expanded (see Rune, Expand).
func String(s string) string {
	i := 0
	for i < len(s) && s[i] < 0x80 {
		i++ // ASCII folds to itself: most texts are, and cost one pass
	}
	changed := false
	for _, r := range s[i:] {
		if _, ok := Expand(r); ok || Rune(r) != r {
			changed = true
			break
		}
	}
	if !changed {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if x, ok := Expand(r); ok {
			b.WriteString(x)
		} else {
			b.WriteRune(Rune(r))
		}
	}
	return b.String()
}

// Index is strings.Index ignoring ASCII case, for a lower-case needle,
// without allocating: the scanners run it on every argument and answer.
func Index(s, lower string) int {
	n := len(lower)
	if n == 0 {
		return 0
	}
	for i := 0; i+n <= len(s); i++ {
		if s[i]|0x20 == lower[0]|0x20 && strings.EqualFold(s[i:i+n], lower) {
			return i
		}
	}
	return -1
}
