package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/pins"
)

// pin prints a ToolPins document that pins each tool of tools/list
// answers to its definition's digest, over the pins of -pins (kept, with
// their trustOnFirstUse, for tools not listed), and says on standard
// error what changed since them; -w writes it to the -pins file.
func pin(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("pin", flag.ContinueOnError)
	fl.SetOutput(stderr)
	from := fl.String("pins", "", "a ToolPins file whose pins are updated (default: none)")
	write := fl.Bool("w", false, "write the document to the -pins file instead of standard output")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() == 0 || *write && *from == "" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	old := pins.Spec{}
	if *from != "" {
		data, err := os.ReadFile(*from)
		if err != nil && !(errors.Is(err, os.ErrNotExist) && *write) {
			fmt.Fprintln(stderr, "pin:", err)
			return 1
		}
		if err == nil {
			var doc struct {
				APIVersion string         `json:"apiVersion"`
				Kind       string         `json:"kind"`
				Metadata   map[string]any `json:"metadata,omitempty"`
				Spec       pins.Spec      `json:"spec"`
			}
			if err := codec.DecodeStrict(data, &doc); err != nil || doc.Kind != "ToolPins" {
				fmt.Fprintf(stderr, "pin: %s: not a ToolPins document: %v\n", *from, err)
				return 1
			}
			if _, err := pins.Compile(doc.Spec); err != nil {
				fmt.Fprintf(stderr, "pin: %s: %v\n", *from, err)
				return 1
			}
			old = doc.Spec
		}
	}
	listed := map[string]string{}
	for _, file := range fl.Args() {
		tools, err := readTools(file)
		if err != nil {
			fmt.Fprintf(stderr, "pin: %s: %v\n", file, err)
			return 1
		}
		for _, t := range tools {
			m, _ := t.(map[string]any)
			name, _ := m["name"].(string)
			d := pins.Digest(t)
			if name == "" || d == "" {
				fmt.Fprintf(stderr, "pin: %s: a listed tool has no name or is not a JSON object\n", file)
				return 1
			}
			if prev, ok := listed[name]; ok && prev != d {
				fmt.Fprintf(stderr, "pin: %s: %s is listed twice with two definitions\n", file, name)
				return 1
			}
			listed[name] = d
		}
	}
	next := maps.Clone(old.Tools)
	if next == nil {
		next = map[string]string{}
	}
	for _, name := range slices.Sorted(maps.Keys(listed)) {
		switch prev, ok := old.Tools[name]; {
		case !ok:
			fmt.Fprintf(stderr, "added    %s %s\n", name, listed[name])
		case prev != listed[name]:
			fmt.Fprintf(stderr, "changed  %s %s, was %s\n", name, listed[name], prev)
		}
		next[name] = listed[name]
	}
	for _, name := range slices.Sorted(maps.Keys(old.Tools)) {
		if _, ok := listed[name]; !ok {
			fmt.Fprintf(stderr, "kept     %s (not listed)\n", name)
		}
	}
	var b bytes.Buffer
	b.WriteString("# Written by toolgate pin: each tool's definition (its tools/list entry\n" +
		"# but _meta) as reviewed, by the SHA-256 of its RFC 8785 form.\n" +
		"apiVersion: toolgate.dev/v1alpha1\nkind: ToolPins\nmetadata:\n  name: tool-pins\nspec:\n")
	fmt.Fprintf(&b, "  trustOnFirstUse: %v\n", old.TrustOnFirstUse)
	if len(next) == 0 {
		b.WriteString("  tools: {}\n")
	} else {
		b.WriteString("  tools:\n")
		for _, name := range slices.Sorted(maps.Keys(next)) {
			fmt.Fprintf(&b, "    %s: %s\n", yamlKey(name), next[name])
		}
	}
	if *write {
		if err := os.WriteFile(*from, b.Bytes(), 0o644); err != nil {
			fmt.Fprintln(stderr, "pin:", err)
			return 1
		}
		return 0
	}
	_, _ = stdout.Write(b.Bytes())
	return 0
}

// readTools reads the tools of a tools/list answer: a JSON-RPC response,
// its result, or the tools array.
func readTools(file string) ([]any, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	v, err := codec.DecodeJSON(data)
	if err != nil {
		return nil, err
	}
	if m, ok := v.(map[string]any); ok {
		if r, ok := m["result"].(map[string]any); ok {
			m = r
		}
		v = m["tools"]
	}
	tools, ok := v.([]any)
	if !ok {
		return nil, errors.New("not a tools/list answer: want a JSON-RPC response, its result or its tools array")
	}
	return tools, nil
}

// yamlKey quotes a tool name for a YAML key when it is not plain.
func yamlKey(name string) string {
	if name != "" && strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == "" {
		return name
	}
	return fmt.Sprintf("%q", name)
}
