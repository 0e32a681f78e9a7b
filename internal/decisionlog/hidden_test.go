package decisionlog

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
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

// TestCallerNamed: a method or tool name the caller chose is recorded as
// it is only when each of its "/"-separated parts is a plain name with no
// secret in it.
func TestCallerNamed(t *testing.T) {
	key := "ghp_0123456789abcdefghijABCDEFGHIJ012345"
	for _, tt := range []struct {
		name string
		want string
	}{
		{"", ""},
		{"tools/call", "tools/call"},
		{"notifications/initialized", "notifications/initialized"},
		{"docs___search_docs", "docs___search_docs"},
		{"x/" + key, digestName("x/" + key)},
		{"tools//call", digestName("tools//call")},
		{"password=hunter2", digestName("password=hunter2")},
		{"docs___" + key, digestName("docs___" + key)},
		{"1868a90c-4c41-4a7c-9bd9-41b0f2b43a2a", "1868a90c-4c41-4a7c-9bd9-41b0f2b43a2a"}, // a session id
		{"AKIAIOSFODNN7EXAMPLE", digestName("AKIAIOSFODNN7EXAMPLE")},
	} {
		got, plain := callerNamed(tt.name)
		if got != tt.want || plain != (got == tt.name) {
			t.Errorf("callerNamed(%q) = %q, %v; want %q", tt.name, got, plain, tt.want)
		}
	}
}

// TestHiddenNamesHoldNoAnswer: a name cut from a large answer's text is
// remembered as a copy, so the memory of names never keeps an answer
// alive (a helper's review found 4,096 names pinning 6 MB answers each).
func TestHiddenNamesHoldNoAnswer(t *testing.T) {
	text := strings.Repeat("x", 1<<20) + " evil___drop-db-" + strconv.Itoa(int(time.Now().UnixNano())) + " " + strings.Repeat("y", 1<<20)
	i := strings.Index(text, "evil___")
	name := text[i : i+strings.IndexByte(text[i:], ' ')]
	shown := hiddenName(name)
	lo, hi := uintptr(unsafe.Pointer(unsafe.StringData(text))), uintptr(unsafe.Pointer(unsafe.StringData(text)))+uintptr(len(text))
	inText := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return len(s) > 0 && p >= lo && p < hi
	}
	hiddenNames.mu.Lock()
	defer hiddenNames.mu.Unlock()
	for k, v := range hiddenNames.m {
		if k == name && (inText(k) || inText(v)) {
			t.Fatalf("the memory of names holds %q inside the answer's text", k)
		}
	}
	if inText(shown) {
		t.Errorf("hiddenName returned %q inside the answer's text", shown)
	}
}
