// Package toollist finds the tool lists in MCP answers, a tools/list result
// and the gateway's search tool result, and removes the tools a caller may
// not see. It works on messages decoded into plain JSON values and changes
// them in place; whether a tool may be seen is the caller's decision.
package toollist

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// SearchTool is the wire name of AgentCore Gateway's built-in semantic search
// tool. Its results list tools too.
const SearchTool = "x_amz_bedrock_agentcore_search"

// Keep reports whether the tool with this wire name stays listed.
type Keep func(name string) bool

// unnamed stands for a removed entry that had no name.
const unnamed = "(unnamed)"

// ErrShape is returned when a tool list is not a JSON array: the answer
// cannot be filtered, and must not be passed on.
var ErrShape = errors.New("tool list is not an array")

// FilterList filters result.tools of a tools/list result in place, keeping
// every other field (nextCursor among them). Entries without a string name
// are removed: they cannot be judged. It returns the names removed.
func FilterList(result map[string]any, keep Keep) (hidden []string, err error) {
	v, ok := result["tools"]
	if !ok || v == nil {
		return nil, nil
	}
	tools, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("result.tools: %w", ErrShape)
	}
	result["tools"], hidden = filter(tools, keep)
	return hidden, nil
}

func filter(tools []any, keep Keep) (kept []any, hidden []string) {
	kept = make([]any, 0, len(tools))
	for _, t := range tools {
		name := nameOf(t)
		if name != "" && keep(name) {
			kept = append(kept, t)
			continue
		}
		if name == "" {
			name = unnamed
		}
		hidden = append(hidden, name)
	}
	return kept, hidden
}

func nameOf(tool any) string {
	if m, ok := tool.(map[string]any); ok {
		if s, ok := m["name"].(string); ok {
			return s
		}
	}
	return ""
}

// FilterSearch filters a search tool result in place: every array named
// "tools" in result.structuredContent, and in each text content item the
// tools of a JSON tool list (an object with "tools" arrays, or an array of
// tools). A text item that is not JSON may still name tools: every wire
// tool name in it ("<target>___<tool>") that keep refuses is replaced with
// [REDACTED:tool]. It returns the names removed or replaced.
func FilterSearch(result map[string]any, keep Keep) (hidden []string, err error) {
	if sc, ok := result["structuredContent"]; ok {
		h, err := filterTree(sc, keep, "result.structuredContent")
		if err != nil {
			return nil, err
		}
		hidden = append(hidden, h...)
	}
	content, _ := result["content"].([]any)
	for i, c := range content {
		item, ok := c.(map[string]any)
		if !ok {
			continue
		}
		text, ok := item["text"].(string)
		if !ok {
			continue
		}
		h, filtered, err := filterText(text, keep)
		if err != nil {
			return nil, fmt.Errorf("result.content[%d].text: %w", i, err)
		}
		if len(h) > 0 {
			item["text"] = filtered
			hidden = append(hidden, h...)
		}
	}
	return hidden, nil
}

// filterTree filters every array under a key "tools" in v.
func filterTree(v any, keep Keep, path string) (hidden []string, err error) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if k == "tools" && e != nil {
				tools, ok := e.([]any)
				if !ok {
					return nil, fmt.Errorf("%s.tools: %w", path, ErrShape)
				}
				var h []string
				v[k], h = filter(tools, keep)
				hidden = append(hidden, h...)
				continue
			}
			h, err := filterTree(e, keep, path+"."+k)
			if err != nil {
				return nil, err
			}
			hidden = append(hidden, h...)
		}
	case []any:
		for i, e := range v {
			h, err := filterTree(e, keep, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			hidden = append(hidden, h...)
		}
	}
	return hidden, nil
}

// filterText filters a tool list written as JSON text, or the tool names in
// any other text.
func filterText(text string, keep Keep) (hidden []string, filtered string, err error) {
	trimmed := strings.TrimSpace(text)
	if strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[") {
		dec := json.NewDecoder(strings.NewReader(trimmed))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) == nil && !dec.More() {
			if list, ok := v.([]any); ok {
				var kept []any
				kept, hidden = filter(list, keep)
				v = kept
			} else if hidden, err = filterTree(v, keep, "(text)"); err != nil {
				return nil, "", err
			}
			if len(hidden) == 0 {
				return nil, text, nil
			}
			out, err := Marshal(v)
			return hidden, string(out), err
		}
	}
	filtered = wireName.ReplaceAllStringFunc(text, func(name string) string {
		if keep(name) {
			return name
		}
		hidden = append(hidden, name)
		return "[REDACTED:tool]"
	})
	return hidden, filtered, nil
}

// wireName matches a gateway tool name in prose: a target name, three
// underscores, a tool name.
var wireName = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9_-]*___[A-Za-z0-9_.-]*[A-Za-z0-9_-]`)

// Marshal encodes v as JSON without HTML escaping, so that text passes
// through as the target wrote it.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
