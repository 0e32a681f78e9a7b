// Package mcp parses the JSON-RPC 2.0 messages of the Model Context Protocol
// that pass through the gateway, and the gateway's tool naming scheme.
package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Methods whose params this project reads.
const (
	MethodToolsCall = "tools/call"
	MethodToolsList = "tools/list"
)

// TargetSeparator joins target and tool names on the wire: "<target>___<tool>".
const TargetSeparator = "___"

// Errors returned by Parse and ParseToolCall.
var (
	ErrBatch         = errors.New("JSON-RPC batches are not supported")
	ErrNotObject     = errors.New("JSON-RPC message is not an object")
	ErrNoMethod      = errors.New("JSON-RPC request has no method")
	ErrInvalidID     = errors.New("JSON-RPC id must be a string, a number or null")
	ErrToolName      = errors.New("tools/call params.name must be a non-empty string")
	ErrToolArguments = errors.New("tools/call params.arguments must be an object")
	ErrParams        = errors.New("params must be an object")
)

// Message is one JSON-RPC 2.0 message. ID keeps the id exactly as sent (nil
// for a notification) so that it can be echoed byte for byte.
type Message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   json.RawMessage `json:"error,omitempty"`
}

// Parse decodes a request or notification from a body that is a JSON object or
// array. A batch (array) is reported as ErrBatch: MCP no longer allows them and
// judging one element at a time would let the rest through.
func Parse(body json.RawMessage) (Message, error) {
	var m Message
	b := bytes.TrimSpace(body)
	if len(b) > 0 && b[0] == '[' {
		return m, ErrBatch
	}
	if len(b) == 0 || b[0] != '{' {
		return m, ErrNotObject
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: %v", ErrNotObject, err)
	}
	if m.ID != nil {
		switch id := bytes.TrimSpace(m.ID); {
		case string(id) == "null":
			// JSON-RPC allows a null id; echo it as sent.
		case len(id) > 0 && (id[0] == '"' || id[0] == '-' || (id[0] >= '0' && id[0] <= '9')):
		default:
			return m, ErrInvalidID
		}
	}
	if m.Method == "" {
		return m, ErrNoMethod
	}
	return m, nil
}

// IsNotification reports whether the message has no id and so expects no answer.
func (m Message) IsNotification() bool { return m.ID == nil }

// IDValue returns the id as a JSON value: a float64 for a number, a string, or
// nil when absent or null.
func (m Message) IDValue() any {
	if m.ID == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(m.ID, &v); err != nil {
		return nil
	}
	return v
}

// ToolCall is the params of a tools/call request.
type ToolCall struct {
	Name      string
	Arguments map[string]any
}

// ParseToolCall decodes the params of a tools/call request. Missing arguments
// are an empty object; arguments of any other type than object are an error.
func ParseToolCall(params json.RawMessage) (ToolCall, error) {
	// One decoding pass: the types are checked on the decoded values.
	var raw struct {
		Name      any `json:"name"`
		Arguments any `json:"arguments"`
	}
	p := bytes.TrimSpace(params)
	if len(p) == 0 || p[0] != '{' {
		return ToolCall{}, ErrParams
	}
	if err := json.Unmarshal(p, &raw); err != nil {
		return ToolCall{}, fmt.Errorf("%w: %v", ErrParams, err)
	}
	var call ToolCall
	if name, ok := raw.Name.(string); ok && name != "" {
		call.Name = name
	} else {
		return ToolCall{}, ErrToolName
	}
	switch args := raw.Arguments.(type) {
	case nil:
		call.Arguments = map[string]any{}
	case map[string]any:
		call.Arguments = args
	default:
		return ToolCall{}, ErrToolArguments
	}
	return call, nil
}

// SplitToolName splits a wire tool name "<target>___<tool>" at the first
// separator. A name without a separator (such as the gateway's search tool)
// has no target.
func SplitToolName(qualified string) (target, tool string) {
	if i := strings.Index(qualified, TargetSeparator); i >= 0 {
		return qualified[:i], qualified[i+len(TargetSeparator):]
	}
	return "", qualified
}
