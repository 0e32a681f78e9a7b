package mcp

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Headers of MCP 2026-07-28 (SEP-2243) that repeat the body's method and
// the tool, prompt or resource it names, so that gateways, load balancers
// and servers can route without reading the body.
const (
	MethodHeader = "Mcp-Method"
	NameHeader   = "Mcp-Name"
)

// ErrHeaderMismatch: an Mcp-Method or Mcp-Name header names something else
// than the body.
var ErrHeaderMismatch = errors.New("an MCP header disagrees with the body")

// MaxSessionID bounds a session id header: MCP session ids are visible
// ASCII (a UUID, a JWT, a hash), and the id is written to decision records.
const MaxSessionID = 1024

// ErrSessionID: an Mcp-Session-Id or policy session header that is not
// empty (no session) or up to MaxSessionID visible ASCII characters.
var ErrSessionID = fmt.Errorf("a session id header must be at most %d visible ASCII characters", MaxSessionID)

// sessionHeaders are the headers that carry a session id.
var sessionHeaders = []string{"Mcp-Session-Id", "x-amzn-bedrock-agentcore-policy-session-id"}

// validSessionID reports whether v is at most MaxSessionID characters
// from U+0021 to U+007E, as MCP requires of a session id ("" is none).
func validSessionID(v string) bool {
	if len(v) > MaxSessionID {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

// CheckHeaders returns ErrHeaderMismatch when headers (any spelling of the
// names, every value) hold an Mcp-Method other than m's method or an
// Mcp-Name other than the name the body calls: tool (a tools/call's, already
// parsed), a prompts/get's name, a resources/read's uri or a task message's
// taskId. Policies judge the
// body; a router reading the header would run another call than the one
// judged. Absent headers (clients before 2026-07-28) are fine. A session
// id header longer than MaxSessionID or with other than visible ASCII
// characters is ErrSessionID.
func CheckHeaders(headers map[string]string, m Message, tool string) error {
	var name *string // decoded on first need: most requests send no Mcp-Name
	for k, v := range headers {
		switch {
		case strings.EqualFold(k, MethodHeader):
			if v != m.Method {
				return fmt.Errorf("%w: %s names another method", ErrHeaderMismatch, MethodHeader)
			}
		case strings.EqualFold(k, sessionHeaders[0]) || strings.EqualFold(k, sessionHeaders[1]):
			if !validSessionID(v) {
				return ErrSessionID
			}
		case strings.EqualFold(k, NameHeader):
			if name == nil {
				n := bodyName(m, tool)
				name = &n
			}
			if *name == "" || headerValue(v) != *name {
				return fmt.Errorf("%w: %s names another %s", ErrHeaderMismatch, NameHeader, nameKind(m.Method))
			}
		}
	}
	return nil
}

// bodyName is what Mcp-Name repeats for m, or "" for a method that has none.
func bodyName(m Message, tool string) string {
	var p struct {
		Name string `json:"name"`
		URI  string `json:"uri"`
	}
	switch m.Method {
	case MethodToolsCall:
		return tool
	case "prompts/get":
		_ = json.Unmarshal(m.Params, &p)
		return p.Name
	case "resources/read":
		_ = json.Unmarshal(m.Params, &p)
		return p.URI
	case MethodTasksGet, MethodTasksResult, MethodTasksUpdate, MethodTasksCancel:
		// The tasks extension (2026-07-28) names the task in Mcp-Name.
		id, _ := ParseTaskID(m.Params)
		return id
	}
	return ""
}

func nameKind(method string) string {
	switch method {
	case MethodToolsCall:
		return "tool"
	case "prompts/get":
		return "prompt"
	case "resources/read":
		return "resource"
	case MethodTasksGet, MethodTasksResult, MethodTasksUpdate, MethodTasksCancel:
		return "task"
	}
	return "name (the method names none)"
}

// headerValue decodes SEP-2243's "=?base64?...?=" form, which carries
// values a header cannot hold as they are.
func headerValue(v string) string {
	if s, ok := strings.CutPrefix(v, "=?base64?"); ok {
		if s, ok = strings.CutSuffix(s, "?="); ok {
			if b, err := base64.StdEncoding.DecodeString(s); err == nil {
				return string(b)
			}
		}
	}
	return v
}
