package policy

import (
	"fmt"
	"testing"
)

// TestSortByLeavesItsInput: sort_by sorts a copy, so that a compiled
// literal is the same in every decision (go-jmespath's sorts in place, and
// a literal is compiled once) and the document a later rule reads is the
// one the caller sent. Found by an attack: the second decision of
// `["b","a"]` | [@[0], sort_by(@, &@)] | [0] saw "a".
func TestSortByLeavesItsInput(t *testing.T) {
	p, err := compileGuarded(defaultCompilers(), "`[\"b\", \"a\"]` | [@[0], sort_by(@, &@)] | [0]")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if v, err := run(p, nil, nil); err != nil || v != "b" {
			t.Fatalf("decision %d: %v, %v; want b", i, v, err)
		}
	}
	doc := map[string]any{"labels": []any{"b", "a"}}
	p, err = compileGuarded(defaultCompilers(), "sort_by(labels, &@)")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := run(p, doc, nil); err != nil || fmt.Sprint(v) != "[a b]" || fmt.Sprint(doc["labels"]) != "[b a]" {
		t.Fatalf("sorted %v (%v), document %v", v, err, doc["labels"])
	}
}
