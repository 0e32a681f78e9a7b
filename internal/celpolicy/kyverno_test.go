package celpolicy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/celpolicy"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/judge"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/testutil"
	"github.com/toolgate/toolgate/policies"
)

// kyvernoCLI is the environment variable naming Kyverno's own command
// line, which .ci/run builds (kyverno/kyverno, the version it names).
const kyvernoCLI = "TOOLGATE_KYVERNO"

// TestAgainstKyverno holds the CEL dialect's verdicts to Kyverno's own
// engine: every policy of the default bundle's CEL twin that Kyverno can
// read (all but the two that use kyverno-json's wildcard(), which Kyverno
// does not have) is applied by `kyverno apply --json` to the attribute
// document of every sample and adversarial event, and each policy's
// outcome (pass, fail and its messages, skip, error) must be ours.
func TestAgainstKyverno(t *testing.T) {
	cli := os.Getenv(kyvernoCLI)
	if cli == "" {
		t.Skipf("%s is not set: .ci/run builds Kyverno's command line and runs this test with it", kyvernoCLI)
	}
	twin, err := bundle.Load(testutil.DefaultBundleInCEL(t, policies.FS), "cel")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The policies Kyverno can read, as written.
	var names []string
	var compared []*celpolicy.Policy
	for _, p := range twin.CELPolicies {
		if uses(p, "wildcard(") {
			continue
		}
		compared = append(compared, p)
		names = append(names, p.Metadata.Name)
	}
	// And Kyverno's libraries, as toolgate offers them.
	const libraries = "testdata/kyverno-libraries.yaml"
	data, err := os.ReadFile(libraries)
	if err != nil {
		t.Fatal(err)
	}
	lib, err := celpolicy.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	compared, names = append(compared, lib), append(names, lib.Metadata.Name)
	if len(compared) < 19 {
		t.Fatalf("only %d policies to compare", len(compared))
	}
	engine, err := celpolicy.Compile(compared, policy.Declared{})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../testdata/bundles/default-cel/*.yaml")
	args := []string{"apply", libraries}
	for _, f := range files {
		if data, _ := os.ReadFile(f); !strings.Contains(string(data), "wildcard(") {
			args = append(args, f)
		}
	}
	// Every event's document, each in a file Kyverno names it by.
	docs := map[string]map[string]any{}
	var events []string
	for _, d := range []string{"../../testdata/events", "../../testdata/adversarial"} {
		f, _ := filepath.Glob(filepath.Join(d, "*.json"))
		events = append(events, f...)
	}
	for _, env := range []string{"production", "dev"} {
		h := interceptor.New(interceptor.Config{Config: judge.Config{Environment: env, Engine: twin.Engine, Catalog: twin.Catalog}})
		for i, f := range events {
			payload, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r := h.Handle(context.Background(), payload)
			if r.Document == nil {
				continue
			}
			name := fmt.Sprintf("d%d-%s", i, env)
			doc := r.Document.Value()
			docs[name] = doc
			// Kyverno names a payload by its metadata.name.
			named := map[string]any{"apiVersion": "v1", "kind": "Document", "metadata": map[string]any{"name": name}}
			for k, v := range doc {
				named[k] = v
			}
			b, err := json.Marshal(named)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, name+".json")
			if err := os.WriteFile(file, b, 0o644); err != nil {
				t.Fatal(err)
			}
			args = append(args, "--json", file)
		}
	}
	if len(docs) < 300 {
		t.Fatalf("only %d documents", len(docs))
	}
	// Kyverno exits 1 when a policy fails; its report is what is read.
	cmd := exec.Command(cli, append(args, "-p", "--output-format", "json")...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if _, exited := err.(*exec.ExitError); err != nil && (!exited || len(out) == 0) {
		t.Fatalf("kyverno apply: %v\n%s", err, stderr.String())
	}
	theirs, err := kyvernoOutcomes(out)
	if err != nil {
		t.Fatalf("kyverno's report: %v\n%.2000s", err, out)
	}
	compares := 0
	for name, doc := range docs {
		ours := ourOutcomes(engine.Explain(doc))
		for _, p := range names {
			compares++
			if got, want := ours[p], theirs[name+"/"+p]; got != want {
				t.Errorf("%s, policy %s: ours %q, Kyverno's %q", name, p, got, want)
			}
		}
	}
	t.Logf("%d documents, %d policies, %d verdicts compared", len(docs), len(names), compares)
}

// uses reports whether an expression of p contains s.
func uses(p *celpolicy.Policy, s string) bool {
	b, _ := json.Marshal(p.Spec)
	return strings.Contains(string(b), s)
}

// ourOutcomes is each policy's outcome, as Kyverno reports it: error if a
// validation or condition could not be evaluated, fail and the messages
// of those that failed, skip if the policy did not apply, else pass.
func ourOutcomes(results []policy.RuleResult) map[string]string {
	byPolicy := map[string][]policy.RuleResult{}
	for _, r := range results {
		byPolicy[r.Policy] = append(byPolicy[r.Policy], r)
	}
	out := map[string]string{}
	for p, rs := range byPolicy {
		var fails []string
		outcome := "pass"
		skipped := true
		for _, r := range rs {
			skipped = skipped && r.Outcome == policy.Skip
			switch r.Outcome {
			case policy.Fault:
				outcome = "error"
			case policy.Fail:
				for _, f := range r.Findings {
					fails = append(fails, f.Message)
				}
			}
		}
		switch {
		case outcome == "error":
		case skipped:
			outcome = "skip"
		case len(fails) > 0:
			slices.Sort(fails)
			outcome = "fail: " + strings.Join(fails, " | ")
		}
		out[p] = outcome
	}
	return out
}

// kyvernoOutcomes reads `kyverno apply -p --output-format json`: each
// (document, policy)'s outcome, as ourOutcomes writes it.
func kyvernoOutcomes(report []byte) (map[string]string, error) {
	var r struct {
		Results []struct {
			Policy    string `json:"policy"`
			Result    string `json:"result"`
			Message   string `json:"message"`
			Resources []struct {
				Name string `json:"name"`
			} `json:"resources"`
		} `json:"results"`
	}
	if err := json.Unmarshal(report, &r); err != nil {
		return nil, err
	}
	fails := map[string][]string{}
	out := map[string]string{}
	for _, res := range r.Results {
		if len(res.Resources) != 1 {
			return nil, fmt.Errorf("a result of policy %s names %d resources", res.Policy, len(res.Resources))
		}
		key := res.Resources[0].Name + "/" + res.Policy
		switch res.Result {
		case "fail":
			fails[key] = append(fails[key], res.Message)
		case "error":
			out[key] = "error"
		default:
			if _, ok := out[key]; !ok {
				out[key] = res.Result
			}
		}
	}
	for key, msgs := range fails {
		if out[key] == "error" {
			continue
		}
		slices.Sort(msgs)
		out[key] = "fail: " + strings.Join(msgs, " | ")
	}
	return out, nil
}
