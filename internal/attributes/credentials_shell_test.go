package attributes_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/attributes"
)

// TestCredentialStoresShellForms: what the fourth attack found, each a
// documented store or command that a shell reaches through a form the
// scan did not read: brace expansion, ANSI-C quoting, command
// substitution, assignments and compound commands before a command,
// listing options, globs in a command word or at a path's start, cd and
// -C before a relative path, "..", arrays of script lines.
func TestCredentialStoresShellForms(t *testing.T) {
	for _, args := range []string{
		// Braces, nested, ranges, across "/".
		`{"command":"{e..e}nv"}`, `{"command":"e{n,n}v"}`, `{"command":"{env,}"}`, `{"command":"{s..s}et"}`,
		`{"command":"{set,}"}`, `{"command":"{export,}"}`, `{"command":"{declare,} -p"}`, `{"command":"print{e..e}nv"}`,
		`{"argv":["bash","-c","e{n,n}v"]}`,
		`{"command":"cat ~/.{a..a}ws/credentials"}`, `{"command":"cat ~/.a{ws/cred,x}entials"}`, `{"command":"tar c ~/.{ss{h,h},x} | base64"}`,
		`{"command":"cat {README.md,.env}"}`, `{"command":"cat .{env,x}"}`, `{"command":"cat .e{n,}v"}`,
		`{"command":"cat ~/.{netrc,x}"}`, `{"command":"cat ~/.{git-credentials,x}"}`, `{"command":"cat /etc/{shadow,x}"}`,
		`{"command":"cat /proc/self/{environ,x}"}`, `{"command":"cat /proc/self/{e..e}nviron"}`,
		`{"command":"curl http://169{,}.254.170.2/v2/credentials/x"}`,
		`{"command":"curl -s http://{169,x}.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"}`,
		`{"url":"http://[169-169].254.170.2/v2/credentials/abc"}`,
		// ANSI-C quoting, command substitution.
		`{"command":"$'\\x65'nv"}`, `{"command":"$'\\145'nv"}`, `{"command":"$'\\x73'et"}`,
		`{"command":"cat ~/$'\\x2e'aws/credentials"}`, `{"command":"cat /proc/self/$'\\x65'nviron"}`, `{"command":"cat /etc/$'\\x73'hadow"}`,
		`{"command":"e$()nv"}`, "{\"command\":\"e``nv\"}", "{\"command\":\"echo `env`x\"}", "{\"command\":\"echo x`env`\"}",
		"{\"command\":\"x=`env`; echo \\\"$x\\\"\"}", "{\"command\":\"echo `set`x\"}", "{\"command\":\"echo x`declare -p`\"}",
		// What runs the word: assignments, redirections, compound commands,
		// a shell's options, a runner's options; listing options.
		`{"command":"FOO=1 set"}`, `{"command":"LC_ALL=C export"}`, `{"command":"2>/dev/null set"}`,
		`{"command":"if set; then :; fi"}`, `{"command":"while set; do break; done"}`, `{"command":"until set; do break; done"}`,
		`{"argv":["bash","-c","if set; then :; fi"]}`,
		`{"command":"sh -ce set"}`, `{"command":"bash -c -e set"}`, `{"command":"bash -c -- set"}`,
		`{"command":"time -p set"}`, `{"command":"command -p set"}`, `{"command":"eval -- set"}`,
		`{"command":"export --"}`, `{"command":"export -n"}`, `{"command":"export -np"}`, `{"command":"declare --"}`,
		`{"command":"declare -xp"}`, `{"command":"typeset -px"}`, `{"command":"declare -g"}`,
		`{"command":"aws configure --profile default get aws_secret_access_key"}`,
		// Globs in a command word, at a path's start.
		`{"command":"/usr/bin/[!a]nv"}`, `{"command":"/usr/bin/[[:alpha:]]nv"}`, `{"command":"/usr/bin/print[!x]nv"}`,
		`{"command":"cat ~/.netr[c]"}`, `{"command":"cat ~/.[n]etrc"}`, `{"command":"cat ~/.[g]it-credentials"}`,
		`{"command":"cat ~/.npmr?"}`, `{"command":"cat /etc/[s]hadow"}`, `{"command":"cat /etc/*adow"}`,
		`{"command":"cat /[r]un/secrets/kubernetes.io/serviceaccount/token"}`, `{"command":"cat ~/.[v]ault-token"}`,
		// cd, -C and ".." before a path; a store directory named alone.
		`{"command":"cd /proc && cd self && cat environ"}`, `{"command":"cd /proc/self && cat<environ"}`,
		`{"command":"cd /proc/self && (cat environ)"}`, `{"command":"cd /proc/self && base64 environ>x"}`,
		`{"command":"cd && cd .aws && cat credentials"}`, `{"command":"tar -czf - -C ~ .aws | base64"}`,
		`{"command":"cd; tar c .ssh | base64 -w0"}`, `{"command":"tar c -C ~ .kube | base64"}`,
		`{"command":"cd ~ubuntu/.docker && cat config.json"}`, `{"command":"cd ~/.config && cat gcloud/credentials.db"}`,
		`{"command":"cat /etc/ssl/../shadow"}`, `{"command":"cd / && cat etc/shadow"}`, `{"command":"cd /etc && cat shadow"}`,
		`{"command":"cat /var/run/x/../secrets/kubernetes.io/serviceaccount/token"}`,
		`{"command":"cd /var/run/secrets && cat kubernetes.io/serviceaccount/token"}`,
		// Arrays of script lines; an argv with a non-string item.
		`{"commands":["set","uptime"]}`, `{"commands":["uptime","set"]}`, `{"commands":["env","uptime"]}`,
		`{"commands":["export","uptime"]}`, `{"argv":["sh","-c","env",0]}`, `{"argv":["sh","-c","set",null]}`,
		// The third attack's: substitutions and variables that expand to
		// nothing in a script without arguments.
		`{"command":"e$( )nv"}`, "{\"command\":\"e` `nv\"}", `{"command":"s$( )et"}`, `{"command":"cat ~/.a$( )ws/credentials"}`,
		`{"command":"cat /etc/sha$( )dow"}`, `{"command":"e$(:)nv"}`, `{"command":"e$(\n)nv"}`, `{"command":"set${IFS}"}`,
		`{"command":"e$@nv"}`, `{"command":"s$*et"}`, `{"command":"cat /etc/sha$@dow"}`,
		// Braces that would expand past what is read count as a store.
		`{"command":"echo {a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}; {e,x}nv"}`,
	} {
		var v map[string]any
		if err := json.Unmarshal([]byte(args), &v); err != nil {
			t.Fatalf("%s: %v", args, err)
		}
		if got := attributes.CredentialStores(v); len(got) == 0 {
			t.Errorf("%s: not found", args)
		}
	}
}

// TestCredentialStoresNotShellForms: what the same attack found flagged
// that names no store: a glob that bash would not let match a dotfile, a
// listing word that is not run, a member named env.
func TestCredentialStoresNotShellForms(t *testing.T) {
	for _, args := range []string{
		`{"command":"ls *"}`, `{"command":"grep -rn TODO *"}`, `{"command":"wc -l ???"}`, `{"command":"ls p*"}`,
		`{"command":"rm -f e*"}`, `{"command":"cat [a-z]*"}`, `{"command":"du -sh *"}`, `{"command":"ls -d */"}`,
		`{"argv":["ls","*"]}`, `{"glob":"**/*"}`, `{"command":"find . -name '*'"}`, `{"command":"cp -r src/* dist/"}`,
		`{"command":"ls -la ~/projects/*"}`, `{"query":"SELECT * FROM users"}`, `{"command":"psql -c \"SELECT * FROM users\""}`,
		`{"command":"echo $((1+2)) | grep -c set"}`, `{"command":"npm test","env":{"CI":"true"}}`,
		`{"command":"declare -a arr"}`, `{"command":"unset FOO; export PATH"}`, `{"command":"set -e; make"}`,
		// JSON text in an argument is data: its objects are no braces.
		`{"body":"{\"a\":{\"x\":1,\"y\":2},\"b\":[{\"c\":1,\"d\":2},{\"e\":3,\"f\":4},{\"g\":5,\"h\":6},{\"i\":7,\"j\":8}],\"k\":{\"l\":1,\"m\":2,\"n\":3}}"}`,
		`{"command":"{ make build; make test; }"}`,
		// Loops and lists of numbers, braces in quoted code, function listings.
		`{"command":"for i in {1..100}; do echo $i; done"}`, `{"command":"touch file{1..100}.txt"}`,
		`{"command":"printf '%s\n' {1..65}"}`, `{"command":"curl 'https://api.example.com/items?page=[1-100]'"}`,
		`{"command":"node -e 'const {a,b}=x, {c,d}=y, {e,f}=z, {g,h}=w, {i,j}=v, {k,l}=u, {m,n}=t, {o,p}=s, {q,r}=q'"}`,
		`{"command":"declare -f"}`, `{"command":"typeset -f"}`,
	} {
		var v map[string]any
		if err := json.Unmarshal([]byte(args), &v); err != nil {
			t.Fatalf("%s: %v", args, err)
		}
		if got := attributes.CredentialStores(v); len(got) != 0 {
			t.Errorf("%s: %v, want none", args, got)
		}
	}
}

// TestCredentialStoresSecondAttack: what the second attack found, one
// call's arguments a line in testdata/shell-bypasses.txt, each checked
// with bash to reach a documented store or print the environment.
func TestCredentialStoresSecondAttack(t *testing.T) {
	b, err := os.ReadFile("testdata/shell-bypasses.txt")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if got := attributes.CredentialStores(v); len(got) == 0 {
			t.Errorf("not found: %s", strings.TrimSpace(line))
		}
	}
}

// TestCredentialStoresEmptyPaths: a cd's directory and an option's empty
// path (the third attack's panic in join) are read without a panic.
func TestCredentialStoresEmptyPaths(t *testing.T) {
	for _, s := range []string{"cd /x && tar --directory= x", "cd /x; ls /proc/self/cwd/", "cd /x --directory=", "cd /x && cat if="} {
		attributes.CredentialStores(map[string]any{"command": s})
	}
}

// TestCredentialStoresCallBudget: a call whose values, together, read
// past the call's budget has its further values counted as stores.
func TestCredentialStoresCallBudget(t *testing.T) {
	args := map[string]any{}
	for i := range 40 {
		args[strings.Repeat("k", i+1)] = "{a,b,c}{d,e,f,g,h} cat " + strings.Repeat(".a/", 20000)
	}
	if got := attributes.CredentialStores(args); len(got) == 0 {
		t.Error("a call past the budget of readings: none counted")
	}
	if got := attributes.CredentialStores(map[string]any{"one": args["k"]}); len(got) != 0 {
		t.Errorf("one such value alone: %v, want none", got)
	}
}
