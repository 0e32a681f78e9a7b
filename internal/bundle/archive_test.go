package bundle_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/policies"
)

// TestArchiveRoundTrip: an archive loads as the same bundle, with the same
// digest, as the files it was written from, and writing is deterministic.
func TestArchiveRoundTrip(t *testing.T) {
	var a, b bytes.Buffer
	if err := bundle.WriteArchive(&a, policies.FS); err != nil {
		t.Fatal(err)
	}
	if err := bundle.WriteArchive(&b, policies.FS); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two archives of the same files differ")
	}
	embedded, err := bundle.Load(policies.FS, "embedded")
	if err != nil {
		t.Fatal(err)
	}
	got, err := bundle.ReadArchive(a.Bytes(), "s3://b/p/bundle.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != embedded.Digest || len(got.Policies) != len(embedded.Policies) || len(got.Tests) != len(embedded.Tests) {
		t.Errorf("archive: %s, %d policies, %d tests; embedded: %s, %d, %d",
			got.Digest, len(got.Policies), len(got.Tests), embedded.Digest, len(embedded.Policies), len(embedded.Tests))
	}
}

// TestArchiveMembers: only the files Load reads go into an archive, and
// only those are read from one.
func TestArchiveMembers(t *testing.T) {
	pol := "apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec: {rules: [{name: r, assert: {all: [{check: {phase: request}}]}}]}\n"
	fsys := fstest.MapFS{
		"p.yaml":             {Data: []byte(pol)},
		"README.md":          {Data: []byte("not yaml")},
		".git/config.yaml":   {Data: []byte("not: a document")},
		"sub/.hidden/x.yaml": {Data: []byte("not: a document")},
	}
	var buf bytes.Buffer
	if err := bundle.WriteArchive(&buf, fsys); err != nil {
		t.Fatal(err)
	}
	if names := entries(t, buf.Bytes()); strings.Join(names, ",") != "p.yaml" {
		t.Errorf("archive holds %v", names)
	}
	// A foreign archive's other files are ignored, as a directory's are.
	data := archive(t, []entry{{name: "p.yaml", body: pol}, {name: "README.md", body: "x"}, {name: ".git/x.yaml", body: "x"}})
	b, err := bundle.ReadArchive(data, "test")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := bundle.Load(fstest.MapFS{"p.yaml": {Data: []byte(pol)}}, "test")
	if b.Digest != want.Digest {
		t.Errorf("digest %s, want %s", b.Digest, want.Digest)
	}
}

func TestReadArchiveRejects(t *testing.T) {
	pol := "apiVersion: json.kyverno.io/v1alpha1\nkind: ValidatingPolicy\nmetadata: {name: p}\nspec: {rules: [{name: r, assert: {all: [{check: {phase: request}}]}}]}\n"
	good := entry{name: "p.yaml", body: pol}
	many := []entry{good}
	for range 4096 {
		many = append(many, entry{name: "d/", typ: tar.TypeDir})
	}
	valid := archive(t, []entry{good})
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"not gzip", []byte("apiVersion: v1\n"), "gzip: invalid header"},
		{"empty", nil, "EOF"},
		{"truncated", valid[:len(valid)-10], "unexpected EOF"},
		{"not tar", gz(t, []byte(strings.Repeat("x", 1024))), "archive"},
		{"symlink", archive(t, []entry{good, {name: "q.yaml", typ: tar.TypeSymlink, link: "/etc/passwd"}}), `"q.yaml": type '2' is not a regular file`},
		{"hard link", archive(t, []entry{good, {name: "q.yaml", typ: tar.TypeLink, link: "p.yaml"}}), "not a regular file"},
		{"parent", archive(t, []entry{good, {name: "../q.yaml", body: pol}}), `"../q.yaml": not a relative`},
		{"absolute", archive(t, []entry{good, {name: "/q.yaml", body: pol}}), "not a relative"},
		{"dot", archive(t, []entry{good, {name: "./q.yaml", body: pol}}), "not a relative"},
		{"twice", archive(t, []entry{good, good}), `"p.yaml": given twice`},
		{"too many entries", archive(t, many), "more than 4096 entries"},
		{"too large", make([]byte, bundle.MaxArchiveBytes+1), "archive too large"},
		{"expands too far", archive(t, []entry{good, {name: "big.txt", body: strings.Repeat("x", 33<<20)}}), "expanded"},
		{"no policies", archive(t, []entry{{name: "README.md", body: "x"}}), "no policies found"},
		{"bad policy", archive(t, []entry{{name: "p.yaml", body: strings.Replace(pol, "assert", "asert", 1)}}), `p.yaml:4:26: json: unknown field "asert"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bundle.ReadArchive(tt.data, "s3://b/p/bundle.tar.gz")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

type entry struct {
	name, body, link string
	typ              byte
}

func archive(t *testing.T, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Typeflag: typ, Name: e.name, Linkname: e.link, Mode: 0o644}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return gz(t, buf.Bytes())
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func entries(t *testing.T, data []byte) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, hdr.Name)
	}
	return names
}
