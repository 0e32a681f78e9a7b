package redact

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/toolgate/toolgate/internal/fold"
)

// slowDecodeOnce is decodeOnce without its fast paths for ASCII and
// invalid bytes: every byte goes through the rune tests.
func slowDecodeOnce(s string) (view, bool) {
	var b strings.Builder
	var from, to []int32
	changed := false
	emit := func(text string, start, end int) {
		b.WriteString(text)
		for range len(text) {
			from, to = append(from, int32(start)), append(to, int32(end))
		}
	}
	for i := 0; i < len(s); {
		if text, n := decodeAt(s, i); n > 0 {
			emit(text, i, i+n)
			changed = true
			i += n
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if x, ok := fold.Expand(r); ok {
			emit(x, i, i+size)
			changed = true
		} else if f := fold.Rune(r); f != r && r != utf8.RuneError {
			emit(string(f), i, i+size)
			changed = true
		} else if unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || r == '\u3164' || r == '\u115f' || r == '\u1160' || r == '\uffa0' {
			emit("", i, i+size)
			changed = true
		} else {
			emit(s[i:i+size], i, i+size)
		}
		i += size
	}
	return view{text: b.String(), from: from, to: to}, changed
}

// FuzzDecodeOnce holds decodeOnce's fast paths to the rune tests they
// skip: the same view of every input, offsets included.
func FuzzDecodeOnce(f *testing.F) {
	for _, s := range []string{"", "plain", "a%40b", "&#64;&commat;", `\u0040\/`, "\xff\xfe\x80", "ａ\u200bb\u00ad", "\xe2\x80", "x\u0301y", "ﬁ\U000E0041Ⅱ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gotChanged := decodeOnce(s)
		want, wantChanged := slowDecodeOnce(s)
		if got.text != want.text || gotChanged != wantChanged || !slices.Equal(got.from, want.from) || !slices.Equal(got.to, want.to) {
			t.Errorf("decodeOnce(%q) = %q %v, want %q %v", s, got.text, gotChanged, want.text, wantChanged)
		}
	})
}
