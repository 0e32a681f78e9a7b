package catalog

import (
	"strings"
	"testing"
)

// TestClassifyRemembersShortNamesOnly: a target's list may hold names of
// any length, and Classify's memory outlives the call: a name longer than
// a call's is classified without being kept (a review kept 109 MB alive
// with 2,000 names of 50 KB).
func TestClassifyRemembersShortNamesOnly(t *testing.T) {
	long := "docs___delete_" + strings.Repeat("a", 50_000)
	if got := Classify(long); got != OpDelete {
		t.Fatalf("Classify(long) = %q, want %q", got, OpDelete)
	}
	if _, kept := classified.Load(long); kept {
		t.Error("a 50 KB name is remembered")
	}
	short := "docs___delete_" + strings.Repeat("b", maxClassifiedName-len("docs___delete_"))
	if got := Classify(short); got != OpDelete {
		t.Fatalf("Classify(short) = %q, want %q", got, OpDelete)
	}
	if _, kept := classified.Load(short); !kept {
		t.Error("a name as long as a call's is not remembered")
	}
}
