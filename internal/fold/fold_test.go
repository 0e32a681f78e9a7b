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
		// Look-alikes a name is spelt with (found by an attack round).
		{"k8\u0455___delete-pod", "k8s___delete-pod"},          // Cyrillic ѕ
		{"k8s___\U0001D68D\U0001D68E\U0001D695", "k8s___del"},  // math monospace
		{"k8s\ufe4d\ufe4d\ufe4dx \ufe33", "k8s___x _"},         // NFKC underscores
		{"\u0406nstall \u0391\u0392C \u13aa", "Install ABC A"}, // Cyrillic І, Greek, Cherokee
		{"日本語 сеть", "日本語 ceть"},                               // only the letters drawn as Latin ones
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
