package policy_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"
	jsonengine "github.com/kyverno/kyverno-json/pkg/json-engine"
	"sigs.k8s.io/yaml"

	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/policy"
)

// TestTreesMatchKyverno holds this package's assertion trees to
// kyverno-json's walker: on kyverno-json's own scan tests and catalog (read
// from the module cache, not copied here) and on every policy of the
// default and test bundles over every sample and adversarial event.
func TestTreesMatchKyverno(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/kyverno/kyverno-json").Output()
	if err != nil {
		t.Fatalf("finding kyverno-json's module: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	checked, failing := 0, 0
	check := func(where string, ps []*v1alpha1.ValidatingPolicy, resource any, vars map[string]any) {
		t.Helper()
		resources := []any{resource}
		if list, ok := resource.([]any); ok {
			resources = append(resources, list...)
		}
		for _, r := range resources {
			for _, p := range ps {
				checked++
				for _, d := range policy.DiffWithKyverno(p, r, vars) {
					t.Errorf("%s: %s", where, d)
				}
				if naiveFails(r, p) {
					failing++
				}
			}
		}
	}

	// kyverno-json's scan tests: each directory's policies on its payload.
	scans, _ := filepath.Glob(filepath.Join(dir, "test/commands/scan/*"))
	var payloads []any
	var catalog []*v1alpha1.ValidatingPolicy
	for _, s := range scans {
		var ps []*v1alpha1.ValidatingPolicy
		var doc any
		var vars map[string]any
		files, _ := filepath.Glob(filepath.Join(s, "*"))
		for _, f := range files {
			base := filepath.Base(f)
			switch {
			case strings.HasPrefix(base, "payload."):
				if doc, err = loadYAML(f); err != nil {
					t.Fatal(err)
				}
			case base == "bindings.yaml":
				v, err := loadYAML(f)
				if err != nil {
					t.Fatal(err)
				}
				vars, _ = v.(map[string]any)
			case strings.HasSuffix(base, "policy.yaml"):
				loaded, err := loadPolicies(f)
				if err != nil {
					t.Fatal(err)
				}
				ps = append(ps, loaded...)
			}
		}
		if doc == nil || len(ps) == 0 {
			t.Fatalf("%s: no payload or no policy", s)
		}
		payloads = append(payloads, doc)
		catalog = append(catalog, ps...)
		check(s, ps, doc, vars)
	}
	if len(scans) < 10 {
		t.Fatalf("only %d scan tests in %s", len(scans), dir)
	}
	// kyverno-json's catalog, and every scan policy, on every payload.
	err = filepath.WalkDir(filepath.Join(dir, "catalog"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		loaded, err := loadPolicies(p)
		if err == nil {
			catalog = append(catalog, loaded...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range payloads {
		check("kyverno-json corpus", catalog, doc, nil)
	}

	// Our bundles on the sample and adversarial events' documents.
	b := defaultBundle(t)
	ps := b.Policies
	tests, _ := filepath.Glob("../../testdata/bundles/*")
	for _, dir := range tests {
		if tb, err := bundle.Load(os.DirFS(dir), dir); err == nil {
			ps = append(ps, tb.Policies...)
		}
	}
	for _, d := range documents(t, b) {
		check("bundles", ps, d.Value(), nil)
	}
	values := attributes.Builder{Environment: "production", Catalog: b.Catalog}.ListValues(context.Background(), attributes.Input{
		Phase: attributes.PhaseResponse, Method: "tools/list", Headers: map[string]string{"Authorization": bearer("developers")}})
	check("bundles", ps, maps.Clone(values(attributes.ListTool, "k8s___delete-pod")), nil)

	t.Logf("%d policy evaluations compared, %d with a violation or error", checked, failing)
	if failing < 50 {
		t.Fatalf("only %d evaluations failed a rule: the comparison proves little", failing)
	}
}

// naiveFails reports whether kyverno-json's engine finds a violation or an
// error of p on resource.
func naiveFails(resource any, p *v1alpha1.ValidatingPolicy) bool {
	resp := jsonengine.New().Run(context.Background(), jsonengine.Request{Resource: resource, Policies: []*v1alpha1.ValidatingPolicy{p}})
	for _, p := range resp.Policies {
		for _, r := range p.Rules {
			if r.Error != nil || len(r.Violations) > 0 {
				return true
			}
		}
	}
	return false
}

// loadYAML reads a JSON or YAML file, of one document or of several (a
// list), as kyverno-json's scan reads a payload. (kyverno-json's own loaders
// would add a dozen modules to go.mod.)
func loadYAML(path string) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var docs []any
	for _, part := range strings.Split(string(data), "\n---") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		var v any
		if err := yaml.Unmarshal([]byte(part), &v); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		docs = append(docs, v)
	}
	if len(docs) == 1 {
		return docs[0], nil
	}
	return docs, nil
}

// loadPolicies reads the ValidatingPolicies of a YAML file.
func loadPolicies(path string) ([]*v1alpha1.ValidatingPolicy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*v1alpha1.ValidatingPolicy
	for _, part := range strings.Split(string(data), "\n---") {
		var p v1alpha1.ValidatingPolicy
		if err := yaml.Unmarshal([]byte(part), &p); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if p.Kind == "ValidatingPolicy" {
			out = append(out, &p)
		}
	}
	return out, nil
}
