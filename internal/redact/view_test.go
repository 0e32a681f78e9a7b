package redact

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/toolgate/toolgate/internal/fold"
)

// dense is a view as it was first written: for every byte of text, the
// offsets in the original of the sequence it came from (nil: the
// original). It is the oracle of the runs views keep now.
type dense struct {
	text     string
	from, to []int
}

// slowDecodeOnce is decodeOnce as first written: without its fast paths
// for ASCII and invalid bytes, and with an offset pair for every byte.
func slowDecodeOnce(s string, w ways) (d dense, changed, long bool) {
	var b strings.Builder
	var from, to []int
	m := scan{s: s, nextClose: -1, nextPar: -1}
	emit := func(text string, start, end int) {
		b.WriteString(text)
		for range len(text) {
			from, to = append(from, start), append(to, end)
		}
	}
	for i := 0; i < len(s); {
		if n := markupAt(s, i, w, &m); n > 0 {
			emit("", i, i+n)
			changed = true
			i += n
			continue
		} else if n < 0 {
			long = true
		}
		if text, n, _ := decodeAt(s, i, w); n > 0 {
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
	return dense{text: b.String(), from: from, to: to}, changed, long
}

// slowReadView is readView with dense views.
func slowReadView(s string, w ways) (dense, bool) {
	v := dense{text: s}
	long := false
	for round := 0; needsDecoding(v.text); round++ {
		next, changed, l := slowDecodeOnce(v.text, w)
		long = long || l
		if !changed {
			break
		}
		if round == maxDecodeRounds {
			return v, false
		}
		if v.from != nil {
			for i := range next.from {
				next.from[i], next.to[i] = v.from[next.from[i]], v.to[next.to[i]-1]
			}
		}
		v = next
	}
	return v, !long
}

// FuzzView holds views, kept as runs and decoded with fast paths, to
// the dense views they replaced: the same text, the same verdict on
// whether it is whole, and every byte mapped to the same sequence of the
// original.
func FuzzView(f *testing.F) {
	for _, s := range []string{"", "plain", "a%40b", "&#64;&commat;", `\u0040\/`, "\xff\xfe\x80", "ａ\u200bb\u00ad", "\xe2\x80",
		"x\u0301y", "ﬁ\U000E0041Ⅱ", "%2540%252540x", "&amp;#64;é%C3%A9", "日本%41語",
		// Runes put together from two sources, and invalid ones.
		"\xC3%A9x", "%E6%97%A5本", "a%C3\xA9%25C3%25A9", "é\x80%41\xE2\x82", "%F0%9F%98%80&#x1F600;",
		// Markup read through.
		"bi<b>ll</b>ing **k8s**___x `y` ~~z~~ ~/a", "<!-- c -->&lt;b&gt;x", "\\137%u0049",
		"a<b title=\">\">c</b>d<!-- > -->e<?x?>f[g](h)_i", "&#x5fde&#65343;&#65343&shyx&amp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, w := range []ways{0, rendered, asciiRefs, rendered | asciiRefs} {
			got, r := readView(s, w)
			want, wantWhole := slowReadView(s, w)
			if got.text != want.text || r == flooded || (r == whole) != wantWhole {
				t.Fatalf("readView(%q, %v) = %q %v, want %q %v", s, w, got.text, r, want.text, wantWhole)
			}
			for i := range len(got.text) {
				a, z := got.source(i, i+1)
				wa, wz := i, i+1
				if want.from != nil {
					wa, wz = want.from[i], want.to[i]
				}
				if a != wa || z != wz {
					t.Fatalf("readView(%q, %v): byte %d from %d to %d, want %d to %d", s, w, i, a, z, wa, wz)
				}
			}
		}
	})
}

// TestFloodedTextIsNotPassed: a text with more to decode in one layer
// than a view holds (maxSegs runs) is not read, and redaction replaces it
// whole; one just within is read as ever.
func TestFloodedTextIsNotPassed(t *testing.T) {
	s := allDetectors(t)
	within := strings.Repeat("%41", maxSegs/2) + " anna%40example.com"
	if got := s.String(within, Counts{}); strings.Contains(got, "anna") || !strings.Contains(got, "[REDACTED:email]") {
		t.Errorf("within the bound: %.80q", got[len(got)-80:])
	}
	flood := strings.Repeat("%41", maxSegs+1) + " anna%40example.com"
	counts := Counts{}
	if got := s.String(flood, counts); got != "[REDACTED:undecoded]" || counts[Undecoded] != 1 {
		t.Errorf("flooded: %.80q %v", got, counts)
	}
	if _, r := readView(flood, 0); r != flooded {
		t.Errorf("readView: %v, want flooded", r)
	}
}
