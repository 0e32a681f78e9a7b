package cli

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/toolgate/toolgate/internal/policytest"
)

// scaffold is the bundle "toolgate init" writes: a catalog, a policy of
// two rules and the cases that see each pass and fail.
//
//go:embed scaffold
var scaffold embed.FS

// targetName is what a gateway target's name looks like in a tool's wire
// name (<target>___<tool>), and so in the scaffold's YAML.
var targetName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,40}$`)

// initBundle writes a first bundle into a new or empty directory.
func initBundle(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("init", flag.ContinueOnError)
	fl.SetOutput(stderr)
	target := fl.String("target", "crm", "the gateway target whose tools the bundle governs")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() != 1 || fl.Arg(0) == "" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if !targetName.MatchString(*target) {
		fmt.Fprintf(stderr, "-target %q: want lower-case letters, digits and dashes\n", *target)
		return 2
	}
	dir := fl.Arg(0)
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		fmt.Fprintf(stderr, "%s is not empty: init writes a new bundle\n", dir)
		return 1
	}
	err := fs.WalkDir(scaffold, "scaffold", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		text, err := scaffold.ReadFile(p)
		if err != nil {
			return err
		}
		t, err := template.New(p).Parse(string(text))
		if err != nil {
			return err
		}
		var out bytes.Buffer
		if err := t.Execute(&out, struct{ Target string }{*target}); err != nil {
			return err
		}
		name := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(p, "scaffold/")))
		if filepath.Base(name) == "access.yaml" && filepath.Base(filepath.Dir(name)) != "tests" {
			name = filepath.Join(dir, *target+"-access.yaml")
		}
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "wrote", name)
		return os.WriteFile(name, out.Bytes(), 0o644)
	})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "next: toolgate test -coverage %s\n", dir)
	return 0
}

// event prints an interceptor event: a tools/call (or another method) by
// a caller with the given claims, at the REQUEST point, or with the
// target's answer at the RESPONSE point.
func event(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("event", flag.ContinueOnError)
	fl.SetOutput(stderr)
	method := fl.String("method", "tools/call", "the JSON-RPC method")
	tool := fl.String("tool", "", "the tool's wire name <target>___<tool> (tools/call)")
	arguments := fl.String("args", "{}", "the call's arguments, a JSON object")
	params := fl.String("params", "", "the request's params, a JSON object (instead of -tool and -args)")
	sub := fl.String("sub", "", "the caller's subject; none: an anonymous call")
	groups := fl.String("groups", "", "the caller's groups, comma-separated (cognito:groups)")
	claims := fl.String("claims", "", "more token claims, a JSON object")
	version := fl.String("version", "2025-06-18", "the MCP protocol version (Mcp-Protocol-Version)")
	session := fl.String("session", "", "the Mcp-Session-Id")
	response := fl.String("response", "", "the target's JSON-RPC result, a JSON object: makes a RESPONSE point event")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() != 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ev, err := buildEvent(*method, *tool, *arguments, *params, *sub, *groups, *claims, *version, *session, *response)
	if err != nil {
		fmt.Fprintln(stderr, "event:", err)
		return 2
	}
	out, _ := json.MarshalIndent(ev, "", "  ")
	fmt.Fprintf(stdout, "%s\n", out)
	return 0
}

func buildEvent(method, tool, arguments, params, sub, groups, claims, version, session, response string) (map[string]any, error) {
	object := func(name, s string) (map[string]any, error) {
		var v map[string]any
		if err := json.Unmarshal([]byte(s), &v); err != nil || v == nil {
			return nil, fmt.Errorf("-%s: want a JSON object", name)
		}
		return v, nil
	}
	body := map[string]any{"jsonrpc": "2.0", "id": 1, "method": method}
	switch {
	case params != "":
		p, err := object("params", params)
		if err != nil {
			return nil, err
		}
		body["params"] = p
	case method == "tools/call":
		if tool == "" {
			return nil, errors.New("-tool is required for tools/call")
		}
		a, err := object("args", arguments)
		if err != nil {
			return nil, err
		}
		body["params"] = map[string]any{"name": tool, "arguments": a}
	}
	headers := map[string]any{"Content-Type": "application/json", "Mcp-Protocol-Version": version}
	if session != "" {
		headers["Mcp-Session-Id"] = session
	}
	if sub != "" || claims != "" {
		c := map[string]any{}
		if claims != "" {
			var err error
			if c, err = object("claims", claims); err != nil {
				return nil, err
			}
		}
		if sub != "" {
			c["sub"] = sub
		}
		if groups != "" {
			c["cognito:groups"] = strings.Split(groups, ",")
		}
		token, err := policytest.UnsignedToken(c)
		if err != nil {
			return nil, err
		}
		headers["Authorization"] = "Bearer " + token
	}
	mcp := map[string]any{"gatewayRequest": map[string]any{"path": "/mcp", "httpMethod": "POST", "headers": headers, "body": body}}
	if response != "" {
		r, err := object("response", response)
		if err != nil {
			return nil, err
		}
		mcp["gatewayResponse"] = map[string]any{"statusCode": 200, "headers": map[string]any{"Content-Type": "application/json"},
			"body": map[string]any{"jsonrpc": "2.0", "id": 1, "result": r}}
	}
	return map[string]any{"interceptorInputVersion": "1.0", "mcp": mcp}, nil
}
