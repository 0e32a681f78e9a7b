package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/pins"
)

// pin prints a ToolPins document that pins each tool of tools/list
// answers (files, or a live listing of -url) to its definition's digest,
// over the pins of -pins (kept, with their trustOnFirstUse, for tools not
// listed), and says on standard error what changed since them; -w writes
// it to the -pins file.
func pin(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("pin", flag.ContinueOnError)
	fl.SetOutput(stderr)
	from := fl.String("pins", "", "a ToolPins file whose pins are updated (default: none)")
	write := fl.Bool("w", false, "write the document to the -pins file instead of standard output")
	endpoint := fl.String("url", "", "list the tools of this MCP endpoint (the gateway's /mcp URL) instead of reading files")
	tokenFile := fl.String("token", "", "with -url: a file holding the bearer token to list with")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if (fl.NArg() == 0) == (*endpoint == "") || *write && *from == "" || *tokenFile != "" && *endpoint == "" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	// A new document pins on first use, as the default bundle's does:
	// a bundle's ToolPins replaces its base's whole.
	old := pins.Spec{TrustOnFirstUse: true}
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
	sources := fl.Args()
	read := readTools
	if *endpoint != "" {
		sources = []string{*endpoint}
		read = func(url string) ([]any, error) {
			token, err := readToken(*tokenFile)
			if err != nil {
				return nil, err
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			return listTools(ctx, http.DefaultClient, url, token)
		}
	}
	listed := map[string]string{}
	for _, file := range sources {
		tools, err := read(file)
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
	// What the function would refuse to load is not written (a target
	// that lists one name in two cases would break the next deploy).
	if _, err := pins.Compile(pins.Spec{TrustOnFirstUse: old.TrustOnFirstUse, Tools: next}); err != nil {
		fmt.Fprintf(stderr, "pin: %v\n", err)
		return 1
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

// readToken reads a bearer token from file ("" for none).
func readToken(file string) (string, error) {
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(b)), "Bearer ")), nil
}

// maxPages bounds the pages of one live listing.
const maxPages = 1000

// listTools lists the tools an MCP endpoint serves over streamable HTTP,
// as a client sees them: initialize, notifications/initialized, then
// tools/list page by page. Each tool is the JSON object the endpoint sent.
func listTools(ctx context.Context, hc *http.Client, endpoint, token string) ([]any, error) {
	c := &mcpClient{hc: hc, endpoint: endpoint, token: token}
	if _, err := c.call(ctx, 1, "initialize", map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "toolgate-pin", "version": "1"}}); err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	if _, err := c.post(ctx, map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"}); err != nil {
		return nil, fmt.Errorf("notifications/initialized: %w", err)
	}
	var tools []any
	cursor := ""
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("tools/list: more than %d pages", maxPages)
		}
		params := map[string]any{}
		if cursor != "" {
			params["cursor"] = cursor
		}
		result, err := c.call(ctx, 2+page, "tools/list", params)
		if err != nil {
			return nil, fmt.Errorf("tools/list: %w", err)
		}
		list, ok := result["tools"].([]any)
		if !ok {
			return nil, errors.New("tools/list: the result has no tools array")
		}
		tools = append(tools, list...)
		if cursor, _ = result["nextCursor"].(string); cursor == "" {
			return tools, nil
		}
	}
}

// mcpClient speaks streamable HTTP to one endpoint, one request at a time.
type mcpClient struct {
	hc              *http.Client
	endpoint, token string
	session         string // Mcp-Session-Id, once the endpoint gave one
}

// call sends a request and returns the result of its answer.
func (c *mcpClient) call(ctx context.Context, id int, method string, params map[string]any) (map[string]any, error) {
	answers, err := c.post(ctx, map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	for _, a := range answers {
		if n, ok := a["id"].(json.Number); !ok || n.String() != fmt.Sprint(id) {
			continue // a request or notification of the server's, or another answer
		}
		if e, ok := a["error"].(map[string]any); ok {
			return nil, fmt.Errorf("error %v: %v", e["code"], e["message"])
		}
		if r, ok := a["result"].(map[string]any); ok {
			return r, nil
		}
		return nil, errors.New("an answer without a result")
	}
	return nil, errors.New("no answer")
}

// post sends one message and returns the messages the endpoint answered
// with: a JSON body, or the events of an event stream.
func (c *mcpClient) post(ctx context.Context, msg map[string]any) ([]map[string]any, error) {
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if s := res.Header.Get("Mcp-Session-Id"); s != "" {
		c.session = s
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode == http.StatusAccepted {
		return nil, nil
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", res.StatusCode, bytes.TrimSpace(data))
	}
	var texts [][]byte
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		texts = events(data)
	} else {
		texts = [][]byte{data}
	}
	var out []map[string]any
	for _, t := range texts {
		v, err := codec.DecodeJSON(t)
		if err != nil {
			return nil, fmt.Errorf("an answer that is not JSON: %w", err)
		}
		if m, ok := v.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// events returns the data of each event of an event stream.
func events(stream []byte) [][]byte {
	var out [][]byte
	var data []byte
	sc := bufio.NewScanner(bytes.NewReader(stream))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if len(data) > 0 {
				out = append(out, data)
			}
			data = nil
		case strings.HasPrefix(line, "data:"):
			if data != nil {
				data = append(data, '\n')
			}
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")...)
		}
	}
	if len(data) > 0 {
		out = append(out, data)
	}
	return out
}
