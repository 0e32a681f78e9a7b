package policy

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// TestHasWordIsTheRegexp holds hasWord to the regexps it replaced, on
// strings made of the bytes that matter around the two words.
func TestHasWordIsTheRegexp(t *testing.T) {
	for _, tt := range []struct {
		word, notAfter string
		re             *regexp.Regexp
	}{
		{"session", "$.", regexp.MustCompile(`(^|[^A-Za-z0-9_.$])session\b`)},
		{"definition", "$", regexp.MustCompile(`(^|[^A-Za-z0-9_$])definition\b`)},
	} {
		pieces := []string{tt.word, tt.word[:3], "$", ".", "_", "a", "Z", "9", " ", `"`, "{", "é", "-"}
		r := rand.New(rand.NewPCG(1, 2))
		for range 20000 {
			var b []byte
			for range r.IntN(6) {
				b = append(b, pieces[r.IntN(len(pieces))]...)
			}
			if got, want := hasWord(b, tt.word, tt.notAfter), tt.re.Match(b); got != want {
				t.Fatalf("%q in %q: %v, the regexp says %v", tt.word, b, got, want)
			}
		}
	}
}
