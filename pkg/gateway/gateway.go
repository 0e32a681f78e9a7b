// Package gateway mirrors the Amazon Bedrock AgentCore Gateway interceptor wire
// contract: the event the gateway sends to an interceptor Lambda and the output
// it accepts back. The types are plain structs whose JSON tags match the wire
// format exactly; decoding is strict about shape and lenient only where the
// gateway is known to vary (headers, body encodings).
package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/toolgate/toolgate/internal/codec"
)

// OutputVersion is the only interceptorOutputVersion the gateway accepts. An
// output without it is ignored by the gateway, so a denial without it is an allow.
const OutputVersion = "1.0"

// Event is the interceptor input. Exactly one of MCP and HTTP is set.
type Event struct {
	InterceptorInputVersion string          `json:"interceptorInputVersion"`
	MCP                     *MCPEvent       `json:"mcp,omitempty"`
	HTTP                    json.RawMessage `json:"http,omitempty"`
}

// MCPEvent is the event of an MCP target. GatewayResponse is non-nil only at
// the RESPONSE interception point.
type MCPEvent struct {
	RawGatewayRequest *RawRequest `json:"rawGatewayRequest,omitempty"`
	GatewayRequest    *Request    `json:"gatewayRequest,omitempty"`
	GatewayResponse   *Response   `json:"gatewayResponse,omitempty"`
}

// RawRequest carries the request body exactly as the client sent it, as a
// JSON string. It is kept undecoded: it is needed only when the parsed body
// is missing.
type RawRequest struct {
	Body json.RawMessage `json:"body"`
}

// Request is the gateway's parse of the client's request. Headers is present
// only when the interceptor is configured with passRequestHeaders. Body is
// usually a JSON object but has been seen as a JSON string and as null.
type Request struct {
	Path       string          `json:"path,omitempty"`
	HTTPMethod string          `json:"httpMethod,omitempty"`
	Headers    Headers         `json:"headers,omitempty"`
	Body       json.RawMessage `json:"body,omitempty"`
}

// Response is the target's answer as seen at the RESPONSE point.
type Response struct {
	StatusCode          int             `json:"statusCode"`
	Headers             Headers         `json:"headers,omitempty"`
	Body                json.RawMessage `json:"body,omitempty"`
	IsStreamingResponse bool            `json:"isStreamingResponse,omitempty"`
}

// Headers holds HTTP headers as the gateway sends them. Look names up with Get:
// the gateway does not normalise their case.
type Headers map[string]string

// UnmarshalJSON accepts string values, lists of strings (joined with ", " as
// HTTP does) and scalars, and skips nulls, so an odd header never fails the
// whole event.
func (h *Headers) UnmarshalJSON(data []byte) error {
	// The gateway sends strings: decode them as such, and take the lenient
	// path below only for anything else (a null, a number, a list).
	if !bytes.Contains(data, []byte("null")) {
		var m map[string]string
		if codec.UnmarshalJSON(data, &m) == nil {
			*h = m
			return nil
		}
	}
	var raw map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers keep their spelling
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("headers: %w", err)
	}
	if raw == nil {
		*h = nil
		return nil
	}
	out := make(Headers, len(raw))
	for name, v := range raw {
		switch v := v.(type) {
		case nil:
		case string:
			out[name] = v
		case json.Number:
			out[name] = v.String()
		case bool:
			out[name] = fmt.Sprint(v)
		case []any:
			list := make([]string, len(v))
			for i, item := range v {
				s, ok := item.(string)
				if !ok {
					return fmt.Errorf("header %q: list of non-strings", name)
				}
				list[i] = s
			}
			out[name] = strings.Join(list, ", ")
		default:
			return fmt.Errorf("header %q: object value", name)
		}
	}
	*h = out
	return nil
}

// Get returns the value of the named header, matching the name
// case-insensitively. When the gateway sent the same name in two casings, the
// lexically smallest spelling wins so that the result does not depend on map
// order.
func (h Headers) Get(name string) (string, bool) {
	if v, ok := h[name]; ok {
		return v, true
	}
	var (
		found    bool
		bestName string
		best     string
	)
	for k, v := range h {
		if strings.EqualFold(k, name) && (!found || k < bestName) {
			found, bestName, best = true, k, v
		}
	}
	return best, found
}

// Errors returned by Decode. They are wrapped with detail; test with errors.Is.
var (
	ErrNotJSON     = errors.New("event is not a JSON object")
	ErrNotUTF8     = errors.New("event is not valid UTF-8")
	ErrVersion     = errors.New("unsupported interceptorInputVersion")
	ErrNoTarget    = errors.New("event has neither an mcp nor an http member")
	ErrBothTargets = errors.New("event has both an mcp and an http member")
	ErrNoRequest   = errors.New("event has no gatewayRequest")
	ErrBodyNotJSON = errors.New("body is not a JSON object or array")
	ErrBodyMissing = errors.New("request has no body")
)

// Decode parses an interceptor event from the raw Lambda payload. It accepts
// input versions 1.x: a different major version means a contract this code
// does not know, and guessing would risk misreading a request.
func Decode(payload []byte) (Event, error) {
	var ev Event
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return ev, ErrNotJSON
	}
	if !utf8.Valid(trimmed) {
		// encoding/json would read each bad byte as U+FFFD, and another
		// parser otherwise: no two would agree on a tool name.
		return ev, ErrNotUTF8
	}
	if err := codec.UnmarshalJSON(trimmed, &ev); err != nil {
		return ev, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	if v := ev.InterceptorInputVersion; v != "1" && !strings.HasPrefix(v, "1.") {
		return ev, fmt.Errorf("%w %.16q", ErrVersion, v) // capped: it is echoed to the caller
	}
	hasHTTP := len(ev.HTTP) > 0 && string(ev.HTTP) != "null"
	switch {
	case ev.MCP != nil && hasHTTP:
		return ev, ErrBothTargets
	case ev.MCP == nil && !hasHTTP:
		return ev, ErrNoTarget
	case ev.MCP != nil && ev.MCP.GatewayRequest == nil && ev.MCP.GatewayResponse == nil:
		return ev, ErrNoRequest
	}
	if !hasHTTP {
		ev.HTTP = nil
	}
	return ev, nil
}

// IsResponse reports whether the event was sent at the RESPONSE point, which
// the contract signals only by a non-null gatewayResponse.
func (e *MCPEvent) IsResponse() bool { return e.GatewayResponse != nil }

// RequestBody returns the client's JSON-RPC body as a JSON object or array.
// The gateway's parsed body is preferred; a body that arrived as a JSON string
// is decoded; the raw body is the fallback when the parsed one is absent or
// null. It returns ErrBodyMissing when neither holds anything.
func (e *MCPEvent) RequestBody() (json.RawMessage, error) {
	var parsed json.RawMessage
	if e.GatewayRequest != nil {
		parsed = e.GatewayRequest.Body
	}
	if body, err := NormalizeBody(parsed); err != nil || body != nil {
		return body, err
	}
	if e.RawGatewayRequest == nil {
		return nil, ErrBodyMissing
	}
	var raw string
	if err := json.Unmarshal(e.RawGatewayRequest.Body, &raw); err != nil || strings.TrimSpace(raw) == "" {
		return nil, ErrBodyMissing
	}
	return structured([]byte(raw))
}

// NormalizeBody turns a body member of a decoded event (so valid JSON) into a
// JSON object or array. It returns nil, nil for an absent or null body,
// decodes a body sent as a JSON string, and rejects every other JSON type.
func NormalizeBody(body json.RawMessage) (json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || string(body) == "null" {
		return nil, nil
	}
	if body[0] == '"' {
		var s string
		if err := json.Unmarshal(body, &s); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBodyNotJSON, err)
		}
		return structured([]byte(s))
	}
	// A member of a decoded event is valid JSON already; only its type is
	// left to check.
	if body[0] != '{' && body[0] != '[' {
		return nil, ErrBodyNotJSON
	}
	return body, nil
}

func structured(b []byte) (json.RawMessage, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || (b[0] != '{' && b[0] != '[') {
		return nil, ErrBodyNotJSON
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%w: invalid JSON", ErrBodyNotJSON)
	}
	return json.RawMessage(b), nil
}
