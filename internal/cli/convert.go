package cli

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/convert"
	"github.com/toolgate/toolgate/internal/policytest"
)

// convertBundle writes the bundle of SRC (default: the embedded one) into
// the new directory OUT with its kyverno-json policies rewritten as CEL
// ValidatingPolicies where they convert, says of each policy what became
// of it, and runs the bundle's tests on the result.
func convertBundle(args []string, embedded fs.FS, getenv func(string) string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("convert", flag.ContinueOnError)
	fl.SetOutput(stderr)
	if err := fl.Parse(args); err != nil {
		return 2
	}
	var src fs.FS
	switch fl.NArg() {
	case 1:
		src = embedded
	case 2:
		src = os.DirFS(fl.Arg(0))
	default:
		fmt.Fprint(stderr, usage)
		return 2
	}
	out := fl.Arg(fl.NArg() - 1)
	if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 {
		fmt.Fprintf(stderr, "%s is not empty: convert writes a new bundle\n", out)
		return 1
	}
	files, notes, err := convert.Bundle(src)
	if err != nil {
		fmt.Fprintf(stderr, "convert: %v\n", err)
		return 1
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		dst := filepath.Join(out, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			fmt.Fprintf(stderr, "convert: %v\n", err)
			return 1
		}
		if err := os.WriteFile(dst, files[p], 0o644); err != nil {
			fmt.Fprintf(stderr, "convert: %v\n", err)
			return 1
		}
	}
	for _, n := range notes {
		fmt.Fprintln(stdout, n)
	}
	b, err := bundle.Open(out, embedded, nil)
	if err != nil {
		fmt.Fprintf(stderr, "the converted bundle does not load: %v\n", err)
		return 1
	}
	results, err := policytest.Run(b, policytest.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "the converted bundle's tests: %v\n", err)
		return 1
	}
	failed := 0
	for _, r := range results {
		if !r.Pass {
			failed++
			fmt.Fprintf(stderr, "FAIL %s %s:\n%s\n", r.Where, r.Name, r.Diff)
		}
	}
	fmt.Fprintf(stdout, "%s: %d policies in CEL, %d kept in kyverno-json; %d of %d test cases pass\n",
		out, len(b.CELPolicies), len(b.Policies), len(results)-failed, len(results))
	if failed > 0 {
		return 1
	}
	return 0
}
