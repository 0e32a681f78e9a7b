// Package fold maps the look-alike forms of ASCII characters that a model
// reads as the characters themselves (fullwidth letters and digits, Unicode
// spaces, asterisk variants) to those characters, so that a check written
// for "*", "@" or "4111" is not passed by "＊", "＠" or "４１１１".
package fold

import (
	"strings"
	"unicode"
)

// Rune returns the ASCII character r stands for, or r.
func Rune(r rune) rune {
	switch {
	case r < 0x80:
		return r
	case r >= 0xFF01 && r <= 0xFF5E: // fullwidth ASCII
		return r - 0xFEE0
	case r == 0x3000 || unicode.Is(unicode.Zs, r): // ideographic and other spaces, NBSP
		return ' '
	}
	switch r {
	case 0x2217, 0x204E, 0x2731, 0xFE61, 0x066D, 0x2055: // ∗ ⁎ ✱ ﹡ ٭ ⁕
		return '*'
	case 0xFE6B: // small commercial at
		return '@'
	case 0xFE6A: // small percent sign
		return '%'
	case 0x2010, 0x2011, 0x2012, 0x2013, 0x2212, 0xFE63: // hyphens, minus
		return '-'
	}
	return r
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
