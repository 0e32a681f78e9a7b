package decisionlog

import (
	"strings"
	"testing"
)

// TestHiddenName: a hidden item is named as it is only when the name is a
// plain name with no secret in it; and a name asked again (from the
// cache) is named the same.
func TestHiddenName(t *testing.T) {
	digest := func(s string) string { return digestName(s) }
	long := "docs___" + strings.Repeat("a", 122)
	for _, tt := range []struct{ name, want string }{
		{"docs___read", "docs___read"},
		{"github___get-resource-0001", "github___get-resource-0001"},
		{"k8s___delete-pod.v2", "k8s___delete-pod.v2"},
		{"", digest("")},
		{"a b", digest("a b")},
		{"file:///etc/passwd", digest("file:///etc/passwd")},
		{"ghp_0123456789abcdefghijABCDEFGHIJ012345", digest("ghp_0123456789abcdefghijABCDEFGHIJ012345")}, // a detector finds it
		{"svc___sk4f9a8b7c6d5e4f3a2b1", digest("svc___sk4f9a8b7c6d5e4f3a2b1")},                           // looks like a key
		{long, digest(long)}, // over 128
		{long[:128], long[:128]},
	} {
		for range 2 {
			if got := hiddenName(tt.name); got != tt.want {
				t.Errorf("hiddenName(%q) = %q, want %q", tt.name, got, tt.want)
			}
		}
	}
}
