package bundle

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestScanTypeMeta: the line scan reads what the YAML parser reads, or
// declines and leaves the document to the parser.
func TestScanTypeMeta(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want typeMeta
		ok   bool
	}{
		{"apiVersion: toolgate.dev/v1alpha1\nkind: ToolCatalog\n", typeMeta{"toolgate.dev/v1alpha1", "ToolCatalog"}, true},
		{"kind: PolicyTest # the cases\r\napiVersion: 'toolgate.dev/v1alpha1'\r\nspec: {}\n", typeMeta{"toolgate.dev/v1alpha1", "PolicyTest"}, true},
		{"# kind: Other\napiVersion: \"a/b\"\nkind: K\nmetadata:\n  kind: nested\n", typeMeta{"a/b", "K"}, true},
		{"apiVersion: a/b\nkind: K\nkind: L\n", typeMeta{}, false},   // twice: the parser's rules decide
		{"{apiVersion: a/b, kind: K}\n", typeMeta{}, false},          // flow style
		{`{"apiVersion": "a/b", "kind": "K"}`, typeMeta{}, false},    // JSON
		{"apiVersion: a/b\nkind: \"K\\u0041\"\n", typeMeta{}, false}, // an escape
		{"apiVersion: a/b\nkind: &anchor K\n", typeMeta{}, false},    // an anchor
		{"apiVersion: a/b\nkind:\n  K\n", typeMeta{}, false},         // the value on the next line
		{"apiVersion: a/b\n", typeMeta{}, false},                     // no kind
		{"apiVersion a/b\nkind K\n", typeMeta{}, false},              // not keys
		{"apiVersion: a/b\nkind:K\n", typeMeta{}, false},             // a scalar, not a key
		{"apiVersion: a/b\nkind: K: L\n", typeMeta{}, false},         // not a plain value
	} {
		got, ok := scanTypeMeta([]byte(tc.doc))
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("scanTypeMeta(%q) = %+v %v, want %+v %v", tc.doc, got, ok, tc.want, tc.ok)
		}
		if ok {
			var parsed typeMeta
			if err := yaml.Unmarshal([]byte(tc.doc), &parsed); err != nil || parsed != got {
				t.Errorf("%q: the parser reads %+v (%v), the scan %+v", tc.doc, parsed, err, got)
			}
		}
	}
	// Every document of the shipped and test bundles reads the same both ways.
	for _, root := range []string{"../../policies", "../../testdata/bundles"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, doc := range SplitDocuments(p, data) {
				got, ok := scanTypeMeta(doc.Data)
				var parsed typeMeta
				if yaml.Unmarshal(doc.Data, &parsed) != nil {
					continue
				}
				if !ok || got != parsed {
					t.Errorf("%s: the scan reads %+v %v, the parser %+v", doc.Where(), got, ok, parsed)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
