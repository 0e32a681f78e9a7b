package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/toolgate/toolgate/internal/app"
	"github.com/toolgate/toolgate/policies"
)

// writes records each Write it is given, as the runtime's pipe sees them.
type writes struct {
	mu  sync.Mutex
	all [][]byte
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all = append(w.all, bytes.Clone(p))
	return len(p), nil
}

// TestOneWritePerInvocation: an invocation's decision record and its
// metrics reach standard output whole, each line a JSON object, in one
// write as it answers; what is written between invocations goes out as
// it is written.
func TestOneWritePerInvocation(t *testing.T) {
	var out writes
	h, err := app.NewHandler(env(map[string]string{"ENVIRONMENT": "production"}), policies.FS, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.all) == 0 || !bytes.Contains(out.all[0], []byte("policy bundle loaded")) {
		t.Fatalf("start-up wrote %q", out.all)
	}
	for _, w := range out.all {
		if bytes.Count(w, []byte("\n")) != 1 {
			t.Errorf("start-up: want each line written as it is logged, got %q", w)
		}
	}
	for _, name := range []string{"denied-delete-production.json", "allowed-call.json"} {
		payload, err := os.ReadFile("../../testdata/events/" + name)
		if err != nil {
			t.Fatal(err)
		}
		out.all = nil
		if _, err := h.Invoke(context.Background(), payload); err != nil {
			t.Fatal(err)
		}
		if len(out.all) != 1 {
			t.Fatalf("%s: %d writes, want 1: %q", name, len(out.all), out.all)
		}
		lines := strings.Split(strings.TrimSuffix(string(out.all[0]), "\n"), "\n")
		if len(lines) < 2 || !strings.Contains(lines[0], `"message":"decision"`) || !strings.Contains(lines[1], `"_aws"`) {
			t.Fatalf("%s: want the record, then the metrics: %q", name, lines)
		}
		for _, l := range lines {
			if !json.Valid([]byte(l)) {
				t.Errorf("%s: not a JSON line: %s", name, l)
			}
		}
	}
}
