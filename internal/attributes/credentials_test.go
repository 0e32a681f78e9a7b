package attributes_test

import (
	"encoding/json"
	"slices"
	"strings"
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
		// The attack's: directories, globs, paths that climb, commands.
		{`{"command":"cat ~/.aws/*"}`, []string{"/command"}},
		{`{"command":"cd ~/.aws && cat credentials"}`, []string{"/command"}},
		{`{"command":"tar c ~/.ssh | base64 -w0"}`, []string{"/command"}},
		{`{"command":"cat ~/.a*/credentials"}`, []string{"/command"}},
		{`{"command":"cat /proc/self/env*"}`, []string{"/command"}},
		{`{"path":"~/.aws/sso/../credentials"}`, []string{"/path"}},
		{`{"dir":"~/.aws","file":"x"}`, []string{"/dir"}},
		{`{"command":"env"}`, []string{"/command"}},
		{`{"command":"env | grep AWS"}`, []string{"/command"}},
		{`{"command":"printenv AWS_SECRET_ACCESS_KEY"}`, []string{"/command"}},
		{`{"command":"aws configure export-credentials"}`, []string{"/command"}},
		{`{"command":"kubectl config view --raw"}`, []string{"/command"}},
		{`{"command":"gh auth token"}`, []string{"/command"}},
		{`{"path":"/var/run/secrets/kubernetes.io/serviceaccount/token"}`, []string{"/path"}},
		{`{"url":"http://169.254.43518/latest/"}`, []string{"/url"}},
		{`{"url":"http://169.16689662/"}`, []string{"/url"}},
		{`{"url":"http://0xa9.0xfe.0xa9.0xfe/"}`, []string{"/url"}},
		{`{"url":"http://025177524776/"}`, []string{"/url"}},
		{`{"url":"http://0251.254.169.254/"}`, []string{"/url"}},
		{`{"url":"http://[::ffff:a9fe:a9fe]/"}`, []string{"/url"}},
		{`{"url":"http://[::ffff:169.254.169.254]/"}`, []string{"/url"}},
		{`{"url":"http://[fd00:ec2::23]/"}`, []string{"/url"}},
		{`{"url":"http://169-254-169-254.nip.io/"}`, []string{"/url"}},
		{`{"url":"http://instance-data.ec2.internal/latest/"}`, []string{"/url"}},
		{`{"url":"http://metadata/computeMetadata/v1/"}`, []string{"/url"}},
		{`{"host":2852039166}`, []string{"/host"}},
		{`{"command":"ls` + strings.Repeat(" ", 64<<10) + `"}`, []string{"/command"}}, // too long to read
		// The second attack's.
		{`{"command":"sh -c env"}`, []string{"/command"}},
		{`{"argv":["bash","-c","env"]}`, []string{"/argv"}},
		{`{"command":"{ env; }"}`, []string{"/command"}},
		{`{"command":"env>/tmp/e"}`, []string{"/command"}},
		{`{"command":"sudo env -u HOME"}`, []string{"/command"}},
		{`{"command":"export"}`, []string{"/command"}},
		{`{"command":"declare -x"}`, []string{"/command"}},
		{`{"command":"/usr/bin/p?intenv"}`, []string{"/command"}},
		{`{"command":"cat ~/.a?s/config"}`, []string{"/command"}},
		{`{"command":"cat ~/.[a]ws/conf[i]g"}`, []string{"/command"}},
		{`{"command":"cat ~/.{aws,x}/config"}`, []string{"/command"}},
		{`{"command":"cat ~/.a\\\nws/con\\\nfig"}`, []string{"/command"}},
		{`{"url":"http://[0:0:0:0:0:ffff:a9fe:a9fe]/"}`, []string{"/url"}},
		{`{"url":"http://0x0000000000a9fea9fe/"}`, []string{"/url"}},
		{`{"url":"http://0000000000000251.0376.0251.0376/"}`, []string{"/url"}},
		{`{"host":"0xa9fea9fe"}`, []string{"/host"}},
		{`{"url":"http://169.254.{169,1}.254/"}`, []string{"/url"}},
		{`{"files":{"~/.ssh/id_rsa":"read"}}`, []string{"/files/~0~1.ssh~1id_rsa"}},
		{`{"path":"/etc/./shadow"}`, []string{"/path"}},
		{`{"path":"/etc//././/shadow"}`, []string{"/path"}},
		// The third attack's.
		{`{"command":"cat .env*"}`, []string{"/command"}},
		{`{"command":"cat .en?"}`, []string{"/command"}},
		{`{"command":"cat ~/.[!x]ws/credentials"}`, []string{"/command"}},
		{`{"command":"cat ~/.[[:alpha:]]ws/credentials"}`, []string{"/command"}},
		{`{"command":"cd /proc/self && cat environ"}`, []string{"/command"}},
		{`{"command":"cd /proc/self; cat env*"}`, []string{"/command"}},
		{`{"command":"env 2>/dev/null"}`, []string{"/command"}},
		{`{"command":"env #x"}`, []string{"/command"}},
		{`{"command":"/usr/bin/e?v"}`, []string{"/command"}},
		{`{"command":"set"}`, []string{"/command"}},
		{`{"command":"aws configure  get aws_secret_access_key"}`, []string{"/command"}},
		{`{"command":"kubectl config view --minify --raw"}`, []string{"/command"}},
		{`{"url":"http://[fd00:0ec2::23]/v1/credentials"}`, []string{"/url"}},
		{`{"command":"type %USERPROFILE%\\.aws\\credentials"}`, []string{"/command"}},
		{`{"path":"C:\\Users\\bob\\.aws\\credentials"}`, []string{"/path"}},
		{`{"argv":["aws","configure","get","aws_secret_access_key"]}`, []string{"/argv"}},
		{`{"argv":["gh","auth","token"]}`, []string{"/argv"}},
		{`{"argv":["kubectl","config","view","--raw"]}`, []string{"/argv"}},
		// set, typeset, export and declare as commands anywhere in a line.
		{`{"command":"ls; set"}`, []string{"/command"}},
		{`{"command":"echo hi && set"}`, []string{"/command"}},
		{`{"command":"set | grep AWS"}`, []string{"/command"}},
		{`{"command":"(set)"}`, []string{"/command"}},
		{`{"command":"sh -c set"}`, []string{"/command"}},
		{`{"command":"bash -c 'set'"}`, []string{"/command"}},
		{`{"argv":["sh","-c","set"]}`, []string{"/argv"}},
		{`{"command":"if true; then set; fi"}`, []string{"/command"}},
		{`{"command":"typeset -p"}`, []string{"/command"}},
		{`{"command":"bash -lc 'typeset -x'"}`, []string{"/command"}},
		{`{"command":"sh -c export"}`, []string{"/command"}},
		{`{"command":"eval declare -p"}`, []string{"/command"}},
		{`{"command":"e\"nv\""}`, []string{"/command"}},
		{`{"command":"se't'"}`, []string{"/command"}},
		{`{"command":"uptime; p'rinte'nv"}`, []string{"/command"}},
		{`{"host":"169-254-169-254"}`, []string{"/host"}},
		// Not credential stores.
		{`{"command":"echo set && make reset"}`, []string{}},
		{`{"command":"kubectl set env deploy/web FOO=1"}`, []string{}},
		{`{"argv":["kubectl","set","image","deploy/web","web=app:2"]}`, []string{}},
		{`{"argv":["conda","env","list"]}`, []string{}},
		{`{"command":"docker build -f .docker/Dockerfile ."}`, []string{}},
		{`{"command":"/usr/lib/google-cloud-sdk/bin/gcloud compute instances list"}`, []string{}},
		{`{"command":"ls src/secrets/ && git log -- app/models/credentials/"}`, []string{}},
		{`{"command":"cp .env.example .env.sample"}`, []string{}},
		{`{"command":"env FOO=1 make test","n":1712345678}`, []string{}},
		{`{"command":"echo settings && ls ~/projects/app"}`, []string{}},
		{`{"path":"/var/log/app.log","command":"ls -la"}`, []string{}},
		{`{"path":"src/environment.py"}`, []string{}},
		{`{"path":"venv/bin/activate","name":"my.env"}`, []string{}},
		{`{"text":"set the AWS credentials in the console","n":3}`, []string{}},
		{`{"url":"http://169.255.1.1/"}`, []string{}},
		// Errs towards finding: any link-local address, anything in ~/.ssh.
		{`{"url":"http://169.254.1.1/"}`, []string{"/url"}},
		{`{"path":"~/.ssh/known_hosts"}`, []string{"/path"}},
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
