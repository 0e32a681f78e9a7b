package attributes_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/toolgate/toolgate/internal/attributes"
)

func TestCredentialStores(t *testing.T) {
	for _, tt := range []struct {
		args string
		want []string
	}{
		{`{"command":"cat ~/.aws/credentials"}`, []string{"/command"}},
		{`{"command":"cat $HOME/.aws/credentials | base64"}`, []string{"/command"}},
		{`{"path":"/root/.aws/config"}`, []string{"/path"}},
		{`{"command":"c\\at ~/.a''ws/cred\"entials"}`, []string{"/command"}},
		{`{"path":"~/.aws//credentials"}`, []string{"/path"}},
		{`{"path":"~/.aws/./credentials"}`, []string{"/path"}},
		{`{"path":"~/.AWS/Credentials"}`, []string{"/path"}},
		{`{"path":"～/．aws/credentials"}`, []string{"/path"}},
		{`{"command":"cat ~/.aws/cred*"}`, []string{"/command"}},
		{`{"files":["README.md","/home/u/.ssh/id_ed25519"]}`, []string{"/files/1"}},
		{`{"command":"tar c ~/.ssh/id_*"}`, []string{"/command"}},
		{`{"path":".env"}`, []string{"/path"}},
		{`{"path":"app/.env.production"}`, []string{"/path"}},
		{`{"command":"cat /proc/self/environ"}`, []string{"/command"}},
		{`{"command":"cat /proc/1/environ"}`, []string{"/command"}},
		{`{"command":"cat /proc/*/environ"}`, []string{"/command"}},
		{`{"url":"http://169.254.169.254/latest/meta-data/iam/security-credentials/"}`, []string{"/url"}},
		{`{"url":"http://2852039166/latest/meta-data/"}`, []string{"/url"}},
		{`{"url":"http://0xA9FEA9FE/latest/"}`, []string{"/url"}},
		{`{"url":"http://[fd00:ec2::254]/latest/"}`, []string{"/url"}},
		{`{"url":"http://metadata.google.internal/computeMetadata/v1/"}`, []string{"/url"}},
		{`{"url":"http://169.254.170.2/v2/credentials/x"}`, []string{"/url"}},
		{`{"opts":{"config":"/home/u/.kube/config"}}`, []string{"/opts/config"}},
		{`{"command":"cat ~/.docker/config.json ~/.netrc ~/.git-credentials"}`, []string{"/command"}},
		// Not credential stores.
		{`{"path":"/var/log/app.log","command":"ls -la"}`, []string{}},
		{`{"path":"src/environment.py"}`, []string{}},
		{`{"path":"venv/bin/activate","name":"my.env"}`, []string{}},
		{`{"text":"set the AWS credentials in the console","n":3}`, []string{}},
		{`{"url":"http://169.254.1.1/"}`, []string{}},
		{`{"path":"~/.ssh/known_hosts"}`, []string{}},
		{`{"path":"~/.ssh/id_ed25519.pub"}`, []string{"/path"}}, // errs towards finding: id_ is a key's prefix
	} {
		var args map[string]any
		if err := json.Unmarshal([]byte(tt.args), &args); err != nil {
			t.Fatal(err)
		}
		if got := attributes.CredentialStores(args); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.args, got, tt.want)
		}
	}
}
