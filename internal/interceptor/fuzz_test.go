package interceptor_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/pkg/gateway"
)

// FuzzHandler holds the whole handler to the contract on any payload: the
// answer is a valid output (version "1.0", exactly one transformed member,
// an object body), never an error and never a panic, and a payload that does
// not decode as an event is denied.
func FuzzHandler(f *testing.F) {
	for _, pattern := range []string{"../../testdata/events/*.json", "../../testdata/adversarial/*.json"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	h := newHandler(f, nil)
	f.Fuzz(func(t *testing.T, payload []byte) {
		out, err := h.Invoke(context.Background(), payload)
		if err != nil {
			t.Fatalf("error %v", err)
		}
		var o gateway.Output
		if err := json.Unmarshal(out, &o); err != nil {
			t.Fatalf("output is not JSON: %v: %s", err, out)
		}
		if err := o.Validate(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if _, err := gateway.Decode(payload); err != nil {
			if r := h.Handle(context.Background(), payload); r.Decision.Effect != decision.Deny {
				t.Fatalf("undecodable event %s", r.Decision.Effect)
			}
		}
	})
}
