package cli_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/pkg/cli"
	"github.com/toolgate/toolgate/policies"
)

func run(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := cli.Main(args, policies.FS, func(string) string { return "" }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestMain(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  []string
	}{
		{[]string{"invoke", "../../testdata/events"}, 0, []string{"bundle: embedded (sha256:", "== ../../testdata/events/allowed-call.json", "decision: deny (code -32001): destructive tool k8s___delete-pod", "events:", "denied"}},
		{[]string{"invoke", "-explain", "-env", "dev", "../../testdata/events/wildcard-arguments.json"}, 0, []string{`"environment": "dev"`, "finding: enforce violation no-wildcard-arguments", "attribute document:"}},
		{[]string{"invoke", "-policies", "../../testdata/bundles/minimal", "../../testdata/events/allowed-call.json"}, 0, []string{"dir:../../testdata/bundles/minimal", "decision: allow"}},
		{[]string{"invoke", "-policies", "/nonexistent", "../../testdata/events/allowed-call.json"}, 0, []string{"decision: deny (code -32002): the policy bundle could not be loaded"}},
		{[]string{"invoke", "../../testdata/events/response-tools-list.json", "../../testdata/events/response-secrets.json"}, 0, []string{"tools hidden: 4 [k8s___delete-pod", "redactions: map[aws-access-key-id:2"}},
		{[]string{"invoke", "/nonexistent.json"}, 1, nil},
		{[]string{"invoke"}, 2, nil},
		{[]string{"test"}, 0, []string{"PASS tests/require-authentication.yaml", "policy tests: 55 passed, 0 failed"}},
		{[]string{"test", "../../testdata/bundles/minimal"}, 0, []string{"policy tests: 2 passed, 0 failed"}},
		{[]string{"test", "../../testdata/bundles/failing-tests"}, 1, []string{"FAIL", "decision: want allow, got deny", "policy tests: 1 passed, 2 failed"}},
		{[]string{"test", "../../testdata/bundles/broken-policy"}, 1, nil},
		{[]string{"frobnicate"}, 2, nil},
		{nil, 2, nil},
		{[]string{"help"}, 0, []string{"usage:"}},
	}
	for _, tt := range tests {
		code, out, errOut := run(tt.args...)
		if code != tt.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", tt.args, code, tt.code, out, errOut)
		}
		for _, want := range tt.out {
			if !strings.Contains(out, want) {
				t.Errorf("%v: output lacks %q:\n%s", tt.args, want, out)
			}
		}
	}
}
