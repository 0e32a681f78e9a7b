package codec

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"unicode/utf16"
)

// referenceString is canonicalString written the obvious way, rune by rune.
func referenceString(s string) string {
	var b bytes.Buffer
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// randomString draws from the characters where the fast paths could go
// wrong: escapes, control characters, multi-byte and supplementary
// characters on both sides of the surrogate range, and invalid bytes.
func randomString(r *rand.Rand) string {
	pieces := []string{"a", "Z", "\"", "\\", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "\u2028", "\uD7FF", "\uE000", "\uFFFD", "\uFFFF",
		"😀", "\U00010000", "\U0010FFFF", "\xff", "\xc3", "\xed\xa0\x80"}
	var b []byte
	for range r.IntN(8) {
		b = append(b, pieces[r.IntN(len(pieces))]...)
	}
	return string(b)
}

func TestCanonicalStringMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		s := randomString(r)
		var b bytes.Buffer
		canonicalString(&b, s)
		if got, want := b.String(), referenceString(s); got != want {
			t.Fatalf("canonicalString(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestCompareUTF16 holds the comparison to UTF-16 code unit order, which
// RFC 8785 sorts member names by.
func TestCompareUTF16(t *testing.T) {
	want := func(x, y string) int { return slices.Compare(utf16.Encode([]rune(x)), utf16.Encode([]rune(y))) }
	for _, tt := range [][2]string{{"", ""}, {"a", ""}, {"a", "b"}, {"ab", "a"}, {"\uE000", "😀"}, {"\uFFFF", "\U00010000"},
		{"\uD7FF", "😀"}, {"😀", "😁"}, {"\U0010FFFF", "\U00010000"}, {"\xff", "\uFFFD"}, {"\xff", "\uFFFE"}} {
		if got := CompareUTF16(tt[0], tt[1]); got != want(tt[0], tt[1]) {
			t.Errorf("CompareUTF16(%q, %q) = %d, want %d", tt[0], tt[1], got, want(tt[0], tt[1]))
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		x, y := randomString(r), randomString(r)
		if got := CompareUTF16(x, y); got != want(x, y) {
			t.Fatalf("CompareUTF16(%q, %q) = %d, want %d", x, y, got, want(x, y))
		}
	}
}
