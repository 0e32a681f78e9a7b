package fold_test

import (
	"testing"

	"github.com/toolgate/toolgate/internal/fold"
)

func TestString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain ascii", "plain ascii"},
		{"＊", "*"},
		{"ａｎｎａ＠ｅｘａｍｐｌｅ．ｃｏｍ", "anna@example.com"},
		{"４１１１\u00a01111", "4111 1111"},
		{"a\u2003b\u3000c", "a b c"},
		{"∗.log", "*.log"},
		{"jörg", "jörg"},
		{"\u2013all", "-all"},
	}
	for _, tt := range tests {
		if got := fold.String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIndex(t *testing.T) {
	for _, tt := range []struct {
		s, lower string
		want     int
	}{
		{"Authorization: BEARER x", "bearer", 15},
		{"no such word", "bearer", -1},
		{"ls ~/.ssh/[a]", "[", 10},
		{"{a}", "[", -1},
		{"x", "", 0},
	} {
		if got := fold.Index(tt.s, tt.lower); got != tt.want {
			t.Errorf("Index(%q, %q) = %d, want %d", tt.s, tt.lower, got, tt.want)
		}
	}
}
