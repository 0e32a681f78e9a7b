package toolgate_test

import (
	"os/exec"
	"strings"
	"testing"
)

// layers is the project's layering, lowest (layer 1) first: a package may import
// only packages of lower layers (and the standard library and third-party
// modules). The README's Layout section states it; TestLayers enforces it.
var layers = [][]string{
	{"internal/codec", "internal/fold", "internal/strictjson", "internal/awsenv", "internal/trace", "policies"},
	{"pkg/gateway", "internal/mcp", "internal/command", "internal/identity", "internal/trace/xraytrace", "internal/trace/oteltrace", "internal/testutil"},
	{"internal/catalog", "internal/moto"},
	{"internal/attributes"},
	{"internal/policy", "internal/call"},
	{"internal/redact", "internal/state", "internal/approval", "internal/decision", "internal/celpolicy"},
	{"internal/ratelimit", "internal/pins", "internal/toollist", "internal/approver", "internal/render"},
	{"internal/bundle", "internal/judge"},
	{"internal/decisionlog"},
	{"internal/metrics"},
	{"internal/interceptor"},
	{"internal/s3bundle", "internal/config", "internal/policytest", "internal/convert"},
	{"internal/reload"},
	{"internal/app"},
	{"internal/cli"},
	{"functions/interceptor", "functions/approvals", "cmd/toolgate"},
}

const module = "github.com/toolgate/toolgate/"

func TestLayers(t *testing.T) {
	layer := map[string]int{}
	for i, l := range layers {
		for _, p := range l {
			layer[p] = i
		}
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		if pkg == strings.TrimSuffix(module, "/") {
			continue // this test's own package
		}
		from, ok := layer[pkg]
		if !ok {
			t.Errorf("%s is in no layer: add it to layers and to the README's Layout", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			imp = strings.TrimPrefix(imp, module)
			if to, ok := layer[imp]; ok && to >= from {
				t.Errorf("%s (layer %d) imports %s (layer %d): a package imports only lower layers", pkg, from+1, imp, to+1)
			}
		}
	}
}
