// Package fold maps the look-alike forms of ASCII characters that a model
// reads as the characters themselves (fullwidth and mathematical letters
// and digits, letters of other scripts drawn as Latin ones, Unicode spaces,
// asterisk variants) to those characters, so that a check written for "*",
// "@", "4111" or "k8s" is not passed by "＊", "＠", "４１１１" or "k8ѕ".
package fold

import (
	"slices"
	"strings"
	"unicode"
)

// Rune returns the ASCII character r stands for, or r: the character its
// NFKC form is (fullwidth and small forms, mathematical letters and
// digits, ſ, K, ﹍), the letter a letter of another script is drawn as
// (Cyrillic ѕ, Greek Ο, Cherokee Ꭺ: see table.go), a space for any space,
// and the look-alikes of "*", "@" and "-" that neither maps.
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
	if unicode.Is(unicode.Zs, r) { // what NFKC keeps (U+1680)
		return ' '
	}
	switch r {
	case 0x2217, 0x204E, 0x2731, 0x066D, 0x2055: // ∗ ⁎ ✱ ٭ ⁕
		return '*'
	case 0x2010, 0x2011, 0x2012, 0x2013, 0x2212: // hyphens, minus
		return '-'
	}
	return r
}

// span maps the runes lo to hi to the characters from to on.
type span struct {
	lo, hi rune
	to     byte
}

// String returns s with every rune folded (see Rune).
func String(s string) string {
	i := 0
	for i < len(s) && s[i] < 0x80 {
		i++ // ASCII folds to itself: most texts are, and cost one pass
	}
	for _, r := range s[i:] {
		if Rune(r) != r {
			out := make([]rune, 0, len(s))
			for _, r := range s {
				out = append(out, Rune(r))
			}
			return string(out)
		}
	}
	return s
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
