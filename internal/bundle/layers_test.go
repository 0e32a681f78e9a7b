package bundle_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/policies"
)

// TestLayers: a bundle on a directory base that builds on the default one
// has all three layers' policies and digests; its archive carries the
// directory base under .base/ (not the embedded one, which the function
// has) and loads, with no directory beside it, as the same bundle.
func TestLayers(t *testing.T) {
	b, err := bundle.Open("../../testdata/bundles/on-platform", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	platform, err := bundle.Open("../../testdata/bundles/on-default", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range b.Policies {
		names = append(names, p.Name)
	}
	for _, want := range []string{"crm-no-bulk-reads", "crm-read-only-exports", "require-authentication"} {
		if !slices.Contains(names, want) {
			t.Errorf("policies %v lack %s", names, want)
		}
	}
	if w := strings.Join(b.Warnings(), "\n"); !strings.Contains(w, "base.yaml:9:3: the base ../on-default is not pinned: add digest: "+platform.Digest) {
		t.Errorf("warnings lack the unpinned base:\n%s", w)
	}
	if len(b.Tests) != 1 || len(b.Layers) != 3 || b.Layers[0].Source != "embedded" ||
		b.Layers[1] != (bundle.Layer{Source: "dir:../on-default", Digest: platform.Digest}) || b.Layers[2].Digest != b.Digest {
		t.Fatalf("tests %d, layers %+v; platform's %+v", len(b.Tests), b.Layers, platform.Layers)
	}

	var archive bytes.Buffer
	if err := b.Archive(&archive); err != nil {
		t.Fatal(err)
	}
	got := entries(t, archive.Bytes())
	if !slices.Contains(got, ".base/crm-access.yaml") || !slices.Contains(got, "no-bulk-reads.yaml") || slices.ContainsFunc(got, func(n string) bool { return strings.HasPrefix(n, ".base/.base/") }) {
		t.Errorf("archive holds %v", got)
	}
	a, err := bundle.ReadArchive(archive.Bytes(), "s3://b/team/bundle.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != b.Digest || !slices.Equal(a.Layers[:2], b.Layers[:2]) || a.Layers[2].Digest != b.Digest || len(a.Policies) != len(b.Policies) || len(a.Tests) != 1 {
		t.Errorf("from the archive: %s %+v; from the directory: %s %+v", a.Digest, a.Layers, b.Digest, b.Layers)
	}
}

// TestBaseRefused: a base that cannot be read, or is not the one pinned,
// fails the load, saying where.
func TestBaseRefused(t *testing.T) {
	pol := "apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: own}\nspec: {rules: [{name: r, assert: {all: [{check: {phase: request}}]}}]}\n"
	base := func(spec string) string {
		return "apiVersion: toolgate.dev/v1alpha1\nkind: BundleBase\nmetadata: {name: b}\nspec: {" + spec + "}\n"
	}
	platform, err := bundle.Open("../../testdata/bundles/on-default", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	platformDir, _ := filepath.Abs("../../testdata/bundles/on-default")
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no base named", map[string]string{"b.yaml": base("bundle: ''")}, `b.yaml:1: spec.bundle: name the base`},
		{"a scheme other than s3", map[string]string{"b.yaml": base("bundle: 'https://example.com/b'")}, `a base is "embedded", a directory or an s3:// prefix`},
		{"S3 without a version", map[string]string{"b.yaml": base("bundle: 's3://policies/platform'")}, "spec.version: a base in S3 is one published version"},
		{"a version of a directory", map[string]string{"b.yaml": base("bundle: ../x, version: v1")}, "spec.version: only a base in S3 has versions"},
		{"a malformed digest", map[string]string{"b.yaml": base("bundle: embedded, digest: abc")}, `spec.digest "abc": want sha256: and 64 hex digits`},
		{"S3 where nothing reads it", map[string]string{"b.yaml": base("bundle: 's3://policies/platform', version: v1")}, "b.yaml:4:8: base s3://policies/platform: this command does not read S3"},
		{"a missing directory", map[string]string{"b.yaml": base("bundle: ./nowhere")}, "base ./nowhere: "},
		{"itself", map[string]string{"b.yaml": base("bundle: .")}, "bases nest more than 4 deep"},
		{"a changed base", map[string]string{"b.yaml": base("bundle: " + platformDir + ", digest: 'sha256:" + strings.Repeat("0", 64) + "'")},
			"digest " + platform.Digest + ", where spec.digest pins sha256:0000"},
		{"a broken base", map[string]string{"b.yaml": base("bundle: ../../testdata/bundles/broken-policy")}, `../../testdata/bundles/broken-policy/policies.yaml:21:5: json: unknown field "asert"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.files["own.yaml"] = pol
			for name, data := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if strings.Contains(tt.name, "broken") {
				// A relative base is read from beside the bundle.
				dir = filepath.Join(dir, "a", "b")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				for name, data := range tt.files {
					if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				wd, _ := os.Getwd()
				if err := os.Symlink(filepath.Join(wd, "../../testdata"), filepath.Join(dir, "../../testdata")); err != nil {
					t.Fatal(err)
				}
			}
			_, err := bundle.Open(dir, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestBaseArchiveRefused: an archive is read alone. One whose base is a
// directory or in S3 must carry it; one that carries a base must name one.
func TestBaseArchiveRefused(t *testing.T) {
	pol := "apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: own}\nspec: {rules: [{name: r, assert: {all: [{check: {phase: request}}]}}]}\n"
	base := "apiVersion: toolgate.dev/v1alpha1\nkind: BundleBase\nmetadata: {name: b}\nspec: {bundle: ../platform}\n"
	for _, tt := range []struct {
		name string
		es   []entry
		want string
	}{
		{"a directory base not carried", []entry{{name: "b.yaml", body: base}, {name: "p.yaml", body: pol}}, "base ../platform: the archive does not carry it"},
		{"an S3 base not carried", []entry{{name: "b.yaml", body: strings.Replace(base, "../platform", "'s3://policies/p', version: v1", 1)}, {name: "p.yaml", body: pol}}, "base s3://policies/p: the archive does not carry it"},
		{"a base carried, none named", []entry{{name: ".base/q.yaml", body: strings.Replace(pol, "own", "q", 1)}, {name: "p.yaml", body: pol}}, "the bundle has no BundleBase"},
		{"files for a base's base, which has none", []entry{{name: "b.yaml", body: base}, {name: "p.yaml", body: pol},
			{name: ".base/q.yaml", body: strings.Replace(pol, "own", "q", 1)}, {name: ".base/.base/r.yaml", body: "not: a document"}}, "for a base that builds on none"},
		{"an embedded base and files", []entry{{name: "b.yaml", body: strings.Replace(base, "../platform", "embedded", 1)}, {name: ".base/q.yaml", body: pol}, {name: "p.yaml", body: pol}}, "the archive also carries a base's files"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bundle.ReadArchive(archive(t, tt.es), "test")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	// Neither layer has a catalog.
	own, err := bundle.ReadArchive(archive(t, []entry{{name: "b.yaml", body: base}, {name: "p.yaml", body: pol}, {name: ".base/q.yaml", body: strings.Replace(pol, "own", "q", 1)}}), "test")
	if err != nil || own.Catalog != nil || len(own.Policies) != 2 {
		t.Errorf("no catalog in either layer: %v", err)
	}
	// The embedded base is the function's own: it never travels.
	b, err := bundle.Open("../../testdata/bundles/on-default", policies.FS, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := b.Archive(&buf); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, buf.Bytes()); slices.ContainsFunc(got, func(n string) bool { return strings.HasPrefix(n, ".base/") }) {
		t.Errorf("archive holds %v", got)
	}
}

// TestCatalogChangesWarned: validate names every tool whose effective risk
// or operation a bundle changes from its base's, however the base gives it
// (an exact entry, a target's "___*" entry, the defaults).
func TestCatalogChangesWarned(t *testing.T) {
	b, err := bundle.Load(fstest.MapFS{
		"base.yaml":    {Data: []byte("apiVersion: toolgate.dev/v1alpha1\nkind: BundleBase\nmetadata: {name: b}\nspec: {bundle: embedded}\n")},
		"catalog.yaml": {Data: []byte("apiVersion: toolgate.dev/v1alpha1\nkind: ToolCatalog\nmetadata: {name: c}\nspec:\n  defaultRisk: low\n  tools:\n    k8s___exec-pod: {risk: low}\n    k8s___drain-node: {operation: read}\n    crm___get: {labels: [private-data]}\n")},
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(b.Warnings(), "\n")
	for _, want := range []string{
		"catalog defaultRisk: low, where the base's is medium",
		"catalog tool k8s___exec-pod: risk low, where the base's is high",
		"catalog tool k8s___drain-node: operation read, where the base's is delete",
		"catalog tool crm___get: risk low, where the base's is medium",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
}

// TestContainmentOverBase: the switch docs/sessions.md gives to enforce
// the default bundle's audit-only containment replaces it; disabling it
// leaves none; and a bundle's own containment of that name that is not
// listed in replace fails to load.
func TestContainmentOverBase(t *testing.T) {
	const enforce = "apiVersion: toolgate.dev/v1alpha1\nkind: Containment\nmetadata: {name: contain-refused-callers}\n" +
		"spec: {key: [principal.id, principal.actor], threshold: 20, window: 10m, quarantine: 1h, mode: enforce}\n"
	base := func(spec string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("apiVersion: toolgate.dev/v1alpha1\nkind: BundleBase\nspec: {bundle: embedded" + spec + "}\n")}
	}
	def, err := bundle.Load(policies.FS, "embedded")
	if err != nil || def.Containments.Len() != 1 || !def.Containments.Audit() {
		t.Fatalf("the default bundle's containment: %v", err)
	}
	b, err := bundle.Load(fstest.MapFS{"base.yaml": base(", replace: [contain-refused-callers]"), "c.yaml": {Data: []byte(enforce)}}, "test")
	if err != nil || b.Containments.Len() != 1 || b.Containments.Audit() {
		t.Fatalf("replaced: %v", err)
	}
	b, err = bundle.Load(fstest.MapFS{"base.yaml": base(", disable: [contain-refused-callers]")}, "test")
	if err != nil || b.Containments.Len() != 0 {
		t.Fatalf("disabled: %v", err)
	}
	if _, err := bundle.Load(fstest.MapFS{"base.yaml": base(""), "c.yaml": {Data: []byte(enforce)}}, "test"); err == nil ||
		!strings.Contains(err.Error(), `"contain-refused-callers" is also the name of the base's`) {
		t.Fatalf("not listed in replace: %v", err)
	}
}
