package mcp_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/mcp"
)

func TestCheckHeaders(t *testing.T) {
	const (
		call   = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"docs___search","arguments":{}}}`
		prompt = `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"summarise"}}`
		read   = `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///etc/motd"}}`
		list   = `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
		task   = `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"taskId":"t-9"}}`
		cancel = `{"jsonrpc":"2.0","id":1,"method":"tasks/cancel","params":{"taskId":"t-9"}}`
	)
	for _, tc := range []struct {
		name    string
		body    string
		headers map[string]string
		ok      bool
	}{
		{"no headers (before 2026-07-28)", call, nil, true},
		{"a session id", call, map[string]string{"Mcp-Session-Id": "1868a90c-4c41-4a7c-9bd9-41b0f2b43a2a"}, true},
		{"an empty session id is none", call, map[string]string{"Mcp-Session-Id": ""}, true},
		{"a session id of the longest", call, map[string]string{"Mcp-Session-Id": strings.Repeat("s", 1024)}, true},
		{"a session id too long for a record", call, map[string]string{"mcp-session-id": strings.Repeat("s", 1025)}, false},
		{"a session id with a space", call, map[string]string{"Mcp-Session-Id": "a b"}, false},
		{"a session id beyond ASCII", call, map[string]string{"Mcp-Session-Id": "séance"}, false},
		{"a policy session id too long", call, map[string]string{"X-Amzn-Bedrock-AgentCore-Policy-Session-Id": strings.Repeat("s", 2000)}, false},
		{"both agree", call, map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "docs___search"}, true},
		{"any spelling", call, map[string]string{"mcp-method": "tools/call", "MCP-NAME": "docs___search"}, true},
		{"base64 name", call, map[string]string{"Mcp-Name": "=?base64?ZG9jc19fX3NlYXJjaA==?="}, true},
		{"prompt", prompt, map[string]string{"Mcp-Method": "prompts/get", "Mcp-Name": "summarise"}, true},
		{"resource", read, map[string]string{"Mcp-Name": "file:///etc/motd"}, true},
		{"task (the tasks extension)", task, map[string]string{"Mcp-Method": "tasks/get", "Mcp-Name": "t-9"}, true},
		{"task cancelled", cancel, map[string]string{"Mcp-Method": "tasks/cancel", "Mcp-Name": "t-9"}, true},
		{"other task", task, map[string]string{"Mcp-Name": "t-alice"}, false},
		{"list without a name", list, map[string]string{"Mcp-Method": "tools/list"}, true},
		{"other tool", call, map[string]string{"Mcp-Name": "billing___refund"}, false},
		{"other method", call, map[string]string{"Mcp-Method": "tools/list"}, false},
		{"method differs in case", call, map[string]string{"Mcp-Method": "Tools/Call"}, false},
		{"empty name", call, map[string]string{"Mcp-Name": ""}, false},
		{"two spellings, one other", call, map[string]string{"Mcp-Name": "docs___search", "mcp-name": "billing___refund"}, false},
		{"joined list", call, map[string]string{"Mcp-Name": "docs___search, billing___refund"}, false},
		{"bad base64 is taken as it is", call, map[string]string{"Mcp-Name": "=?base64?!!?="}, false},
		{"other prompt", prompt, map[string]string{"Mcp-Name": "exfiltrate"}, false},
		{"other resource", read, map[string]string{"Mcp-Name": "file:///etc/passwd"}, false},
		{"a name where the method has none", list, map[string]string{"Mcp-Name": "docs___search"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := mcp.Parse([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			tool := ""
			if m.Method == mcp.MethodToolsCall {
				c, err := mcp.ParseToolCall(m.Params)
				if err != nil {
					t.Fatal(err)
				}
				tool = c.Name
			}
			err = mcp.CheckHeaders(tc.headers, m, tool)
			if tc.ok != (err == nil) || err != nil && !errors.Is(err, mcp.ErrHeaderMismatch) && !errors.Is(err, mcp.ErrSessionID) {
				t.Errorf("CheckHeaders = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
