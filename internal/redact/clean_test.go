package redact

import (
	"maps"
	"slices"
	"testing"
)

// FuzzCleanTexts: a text read again in the same pass gives what reading
// it afresh would, with the same budget left: the same spans, the same
// counts, the same budget spent, whether or not the pass remembered it as
// clean; and a text the pass remembers as clean is one it found nothing
// in without decoding anything.
func FuzzCleanTexts(f *testing.F) {
	for _, s := range []string{"string", "object", "docs___get-resource-000", "github___get-resource-0001",
		"a@b.io", "4111111111111111", "ghp_" + "0123456789abcdefghijABCDEFGHIJ012345", "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=", "0000 0000"} {
		f.Add(s, 0)
		f.Add(s, 30)
		f.Add(s, 1<<20)
	}
	s := allDetectors(f)
	f.Fuzz(func(t *testing.T, text string, budget int) {
		if len(text) > 4*maxClean {
			return
		}
		p := &pass{counts: Counts{}, budget: budget}
		first := s.find(text, p)
		_, remembered := p.clean[text]
		if remembered && (len(first) > 0 || p.budget != budget) {
			t.Fatalf("%q remembered as clean: %v, budget %d -> %d", text, first, budget, p.budget)
		}
		// The second reading, against a fresh pass in the same state.
		q := &pass{counts: Counts{}, budget: p.budget}
		want := s.findAll(text, q)
		before := maps.Clone(p.counts)
		got := s.find(text, p)
		for name, n := range p.counts {
			p.counts[name] = n - before[name]
		}
		maps.DeleteFunc(p.counts, func(_ string, n int) bool { return n == 0 })
		if !slices.Equal(got, want) || !maps.Equal(p.counts, q.counts) || p.budget != q.budget {
			t.Fatalf("%q read again: %v, counts %v, budget %d; afresh %v, %v, %d", text, got, p.counts, p.budget, want, q.counts, q.budget)
		}
	})
}
