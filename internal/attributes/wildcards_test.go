package attributes_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/toolgate/toolgate/internal/attributes"
)

func TestWildcards(t *testing.T) {
	tests := []struct {
		args string
		want []string
	}{
		// Values that are patterns or words for everything.
		{`{"pod":"*"}`, []string{"/pod"}},
		{`{"pod":"api-*"}`, []string{"/pod"}},
		{`{"path":"/var/log/*.log"}`, []string{"/path"}},
		{`{"name":"[a-z]*"}`, []string{"/name"}},
		{`{"name":"?"}`, []string{"/name"}},
		{`{"name":".+"}`, []string{"/name"}},
		{`{"name":"api-.+"}`, []string{"/name"}},
		{`{"name":"%%"}`, []string{"/name"}},
		{`{"name":"api%"}`, []string{"/name"}},
		{`{"name":"＊"}`, []string{"/name"}},
		{`{"name":"∗.log"}`, []string{"/name"}},
		{`{"namespace":"ALL"}`, []string{"/namespace"}},
		{`{"namespace":" everything "}`, []string{"/namespace"}},
		{`{"flags":"--all-namespaces=true"}`, []string{"/flags"}},
		{`{"flags":"get pods -A -o wide"}`, []string{"/flags"}},
		{`{"flags":[["-A"]]}`, []string{"/flags/0/0"}},
		{`{"a":{"b":[{"c":"*"}]}}`, []string{"/a/b/0/c"}},
		// Keys that mean everything, in any spelling, with truthy values.
		{`{"allNamespaces":true}`, []string{"/allNamespaces"}},
		{`{"allNamespaces":"true"}`, []string{"/allNamespaces"}},
		{`{"all_namespaces":1}`, []string{"/all_namespaces"}},
		{`{"ALL_NAMESPACES":true}`, []string{"/ALL_NAMESPACES"}},
		{`{"all-namespaces":"yes"}`, []string{"/all-namespaces"}},
		{`{"everything":true}`, []string{"/everything"}},
		{`{"opts":{"All":"ON"}}`, []string{"/opts/All"}},
		// Empty selectors select everything.
		{`{"labelSelector":""}`, []string{"/labelSelector"}},
		{`{"label_selector":{}}`, []string{"/label_selector"}},
		{`{"fieldSelector":[]}`, []string{"/fieldSelector"}},
		// Several, in a stable order; pointer escapes.
		{`{"b":"*","a/x":"*","c~":"*"}`, []string{"/a~1x", "/b", "/c~0"}},
		// Not wildcards.
		{`{}`, nil},
		{`{"pod":"api-0","namespace":"payments","replicas":3}`, nil},
		{`{"allNamespaces":false}`, nil},
		{`{"all_namespaces":0}`, nil},
		{`{"allNamespaces":"false"}`, nil},
		{`{"query":"what is 5 * 3?"}`, nil},
		{`{"query":"list all pods"}`, nil},
		{`{"url":"https://example.com/a%20b"}`, nil},
		{`{"labelSelector":"app=web"}`, nil},
		{`{"allowList":true}`, nil},
		{`{"version":"1.2.3"}`, nil},
		{`{"email":"a@example.com"}`, nil},
	}
	for _, tt := range tests {
		var args map[string]any
		if err := json.Unmarshal([]byte(tt.args), &args); err != nil {
			t.Fatal(err)
		}
		want := tt.want
		if want == nil {
			want = []string{}
		}
		if got := attributes.Wildcards(args); !slices.Equal(got, want) {
			t.Errorf("Wildcards(%s) = %q, want %q", tt.args, got, want)
		}
	}
}
