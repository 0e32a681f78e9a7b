package catalog_test

import (
	"reflect"
	"testing"

	"github.com/toolgate/toolgate/internal/catalog"
)

func TestClassify(t *testing.T) {
	tests := []struct{ name, want string }{
		{"get-pod", "read"},
		{"list_buckets", "read"},
		{"searchIssues", "read"},
		{"DescribeInstances", "read"},
		{"create_issue", "write"},
		{"putObject", "write"},
		{"update-user", "write"},
		{"delete-pod", "delete"},
		{"DeleteBranch", "delete"},
		{"DELETE_ALL", "delete"},
		{"rm", "delete"},
		{"terminateInstances", "delete"},
		{"run_query", "execute"},
		{"exec", "execute"},
		{"invokeLambda", "execute"},
		{"list_and_delete_pods", "delete"},
		{"get_or_create", "write"},
		{"cordon-node", "unknown"},
		{"refund_payment", "unknown"},
		{"HTTPGetRequest", "read"},
		{"", "unknown"},
		// A false positive, accepted: misses are what matter.
		{"deleted_items_report", "delete"},
		// Casing, joined words and digits hide no verb.
		{"dElete-pod", "delete"},
		{"DeLeTe-pod", "delete"},
		{"DELETEpod", "delete"},
		{"deletepod", "delete"},
		{"bulkdelete", "delete"},
		{"delete2pods", "delete"},
		{"podDelete2", "delete"},
		{"deletes-pods", "delete"},
		{"BulkDeletePods", "delete"},
		{"list_pods_and_deleteThem", "delete"},
		{"REMOVE-USER", "delete"},
		{"removeuser", "delete"},
		{"get_or_removeall", "delete"},
		// Destructive verbs the list lacked.
		{"evict-pod", "delete"},
		{"drain_node", "delete"},
		{"prune-images", "delete"},
		{"teardown_stack", "delete"},
		{"tear-down-stack", "delete"},
		{"TearDownStack", "delete"},
		{"wipe_disk", "delete"},
		{"truncateTable", "delete"},
		{"erase-volume", "delete"},
		{"uninstall-chart", "delete"},
		{"deprovision_account", "delete"},
		{"decommission-host", "delete"},
		{"detach-volume", "delete"},
		{"disable_mfa", "delete"},
		{"reset-password", "delete"},
		{"rollback-release", "delete"},
		{"force-push", "delete"},
		{"git_forcePush", "delete"},
		{"flushall", "delete"},
		{"nukeCluster", "delete"},
		{"overwrite_file", "delete"},
		{"unregister-runner", "delete"},
		{"empty_trash", "delete"},
		{"killProcess", "delete"},
		// Executing verbs inside joined words.
		{"redeploy", "execute"},
		{"autoscale-group", "execute"},
		{"restartpods", "execute"},
		{"invokefunction", "execute"},
		// Read and write verbs only as whole words: no accidental lift out
		// of unknown.
		{"getpods", "unknown"},
		{"showcordon", "unknown"},
		{"settings", "unknown"},
		{"get_settings", "read"},
		{"get_model", "read"},
		{"get_delivery_status", "read"},
		{"list_skills", "read"},
		{"perform_backup", "unknown"},
	}
	for _, tt := range tests {
		if got := catalog.Classify(tt.name); got != tt.want {
			t.Errorf("Classify(%q) = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestLookup(t *testing.T) {
	c := &catalog.Catalog{
		DefaultRisk: "low",
		Targets:     map[string]catalog.Target{"billing": {Environment: "production"}},
		Tools: map[string]catalog.Tool{
			"k8s___*":                        {Risk: "high", Labels: []string{"cluster"}},
			"k8s___delete-pod":               {Risk: "critical", Labels: []string{"destructive", "cluster"}},
			"billing___refund":               {Operation: "write"},
			"x_amz_bedrock_agentcore_search": {Risk: "low", Operation: "read"},
		},
	}
	tests := []struct {
		target, tool string
		want         catalog.Entry
	}{
		{"k8s", "delete-pod", catalog.Entry{Risk: "critical", Operation: "delete", Labels: []string{"cluster", "destructive"}}},
		{"k8s", "get-pod", catalog.Entry{Risk: "high", Operation: "read", Labels: []string{"cluster"}}},
		{"docs", "search", catalog.Entry{Risk: "low", Operation: "read", Labels: []string{}}},
		{"billing", "refund", catalog.Entry{Risk: "low", Operation: "write", Environment: "production", Labels: []string{}}},
		{"", "x_amz_bedrock_agentcore_search", catalog.Entry{Risk: "low", Operation: "read", Labels: []string{}}},
		{"", "k8s___*", catalog.Entry{Risk: "low", Operation: "unknown", Labels: []string{}}},
	}
	for _, tt := range tests {
		if got := c.Lookup(tt.target, tt.tool); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Lookup(%q, %q) = %+v, want %+v", tt.target, tt.tool, got, tt.want)
		}
	}
	var none *catalog.Catalog
	if got := none.Lookup("k8s", "delete-pod"); !reflect.DeepEqual(got, catalog.Entry{Risk: "medium", Operation: "delete", Labels: []string{}}) {
		t.Errorf("nil catalog: %+v", got)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		c  catalog.Catalog
		ok bool
	}{
		{catalog.Catalog{}, true},
		{catalog.Catalog{DefaultRisk: "severe"}, false},
		{catalog.Catalog{Tools: map[string]catalog.Tool{"a___b": {Risk: "HIGH"}}}, false},
		{catalog.Catalog{Tools: map[string]catalog.Tool{"a___b": {Operation: "destroy"}}}, false},
		{catalog.Catalog{Tools: map[string]catalog.Tool{"a___b": {Risk: "critical", Operation: "execute"}}}, true},
		{catalog.Catalog{Tools: map[string]catalog.Tool{"a___b": {Labels: []string{"private-data"}}}}, true},
		{catalog.Catalog{Tools: map[string]catalog.Tool{"a___b": {Labels: []string{"Private Data"}}}}, false},
		{catalog.Catalog{Targets: map[string]catalog.Target{"billing": {Environment: "production"}}}, true},
		{catalog.Catalog{Targets: map[string]catalog.Target{"billing": {Environment: "Production"}}}, false},
		{catalog.Catalog{Tools: map[string]catalog.Tool{"aws___call_aws": {Command: &catalog.Command{Argument: "cli_command", Dialect: "aws"}}}}, true},
		{catalog.Catalog{Tools: map[string]catalog.Tool{"aws___call_aws": {Command: &catalog.Command{Argument: "cli_command", Dialect: "kubectl"}}}}, false},
		{catalog.Catalog{Tools: map[string]catalog.Tool{"aws___call_aws": {Command: &catalog.Command{Dialect: "aws"}}}}, false},
	}
	for i, tt := range tests {
		if err := tt.c.Validate(); (err == nil) != tt.ok {
			t.Errorf("case %d: Validate() = %v, want ok=%v", i, err, tt.ok)
		}
	}
}

// TestLookupCommand: the command a catalog entry names is the tool's, also
// by a target's entry, and also when the tool is named in another case, as
// a gateway matching names without case would run it.
func TestLookupCommand(t *testing.T) {
	cmd := &catalog.Command{Argument: "cli_command", Dialect: "aws"}
	c := catalog.Catalog{Tools: map[string]catalog.Tool{"aws___call_aws": {Command: cmd}, "cli___*": {Command: cmd}}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		target, tool string
		want         *catalog.Command
	}{
		{"aws", "call_aws", cmd}, {"AWS", "Call_Aws", cmd}, {"cli", "run", cmd}, {"CLI", "run", cmd},
		{"aws", "call_aws2", nil}, {"k8s", "get-pod", nil}, {"", "aws___call_aws", nil},
	} {
		if got := c.Lookup(tt.target, tt.tool).Command; got != tt.want {
			t.Errorf("%s___%s: command %v, want %v", tt.target, tt.tool, got, tt.want)
		}
	}
}
