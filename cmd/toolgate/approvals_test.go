package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/app"
	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/moto"
	"github.com/toolgate/toolgate/internal/testutil"
)

const testIssuer = testutil.Issuer

// approvalsCLI runs toolgate approvals as a person would: AWS access from
// a profile, the table from APPROVAL_TABLE, decisions through the
// approvals function (APPROVAL_FUNCTION), reached through a Lambda Invoke
// emulator that runs it in process, wired as in Lambda against moto's
// DynamoDB and KMS, verifying tokens against the IdP.
type approvalsCLI struct {
	t     *testing.T
	table string
	idp   *testutil.IdP
	// key is the KMS key the approvals function signs with; secret the
	// key the interceptor proves requests with.
	key, secret string
	// lambda runs the functions the CLI invokes, by name.
	lambda *lambdaEmulator
	srv    *moto.Server
}

func newApprovalsCLI(t *testing.T) (*approvalsCLI, approval.Store) {
	srv := moto.Start(t)
	return approvalsCLIOn(t, srv, srv.CreateTable(t, "toolgate-approvals"))
}

// approvalsFunction is the name the approvals function is invoked by.
const approvalsFunction = "toolgate-approvals"

// approvalsCLIOn is newApprovalsCLI on a table of srv.
func approvalsCLIOn(t *testing.T, srv *moto.Server, table string) (*approvalsCLI, approval.Store) {
	// The interceptor's side writes the requests, with its own client.
	store, err := approval.FromEnv(srv.Env(nil), table, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	p := testutil.NewIdP(t)
	c := &approvalsCLI{t: t, table: table, idp: p, key: srv.CreateKey(t, "ECC_NIST_P256"), lambda: newLambdaEmulator(t), srv: srv,
		secret: srv.CreateSecret(t, "toolgate-approval-key", strings.Repeat("0123456789abcdef", 3))}
	c.deploy(srv, map[string]string{"JWKS_URL": p.URL, "JWT_ISSUER": testIssuer, "JWT_AUDIENCE": "agent-app"})
	withProfile(t, srv)
	t.Setenv("AWS_ENDPOINT_URL_LAMBDA", c.lambda.URL)
	t.Setenv("APPROVAL_FUNCTION", approvalsFunction)
	return c, store
}

// deploy (re)deploys the approvals function with the table, the signing
// key and vars, as the template sets its environment.
func (c *approvalsCLI) deploy(srv *moto.Server, vars map[string]string) {
	env := map[string]string{"APPROVAL_TABLE": c.table, "APPROVAL_SIGNING_KEY_ARN": c.key, "APPROVAL_KEY_SECRET_ARN": c.secret}
	for k, v := range vars {
		env[k] = v
	}
	h, _ := app.NewApprover(srv.Env(env), io.Discard)
	c.lambda.deploy(approvalsFunction, h)
}

// run runs the command with stdin and returns its exit status and output.
func (c *approvalsCLI) run(stdin string, args ...string) (int, string) {
	var out bytes.Buffer
	a := newAWS(os.Getenv)
	code := approvals(args, approvalsEnv{getenv: a.getenv, stdin: strings.NewReader(stdin), stdout: &out, stderr: &out,
		invoke: a.invoke, now: time.Now})
	return code, out.String()
}

// tokenFile writes token where -token reads it.
func (c *approvalsCLI) tokenFile(token string) string {
	p := filepath.Join(c.t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// lambdaEmulator is Lambda's Invoke API on loopback: a signed POST to
// /2015-03-31/functions/NAME/invocations runs the function deployed as
// NAME on the body, as Lambda does, and answers with its output.
type lambdaEmulator struct {
	URL string
	mu  sync.Mutex
	fns map[string]interface {
		Invoke(context.Context, []byte) ([]byte, error)
	}
}

func newLambdaEmulator(t *testing.T) *lambdaEmulator {
	l := &lambdaEmulator{fns: map[string]interface {
		Invoke(context.Context, []byte) ([]byte, error)
	}{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/2015-03-31/functions/")
		name, ok2 := strings.CutSuffix(name, "/invocations")
		if r.Method != http.MethodPost || !ok || !ok2 {
			http.Error(w, `{"message":"not an Invoke"}`, http.StatusNotFound)
			return
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=") || !strings.Contains(r.Header.Get("Authorization"), "/lambda/aws4_request") {
			http.Error(w, `{"message":"unsigned"}`, http.StatusForbidden)
			return
		}
		l.mu.Lock()
		fn := l.fns[name]
		l.mu.Unlock()
		if fn == nil {
			http.Error(w, `{"Type":"User","message":"Function not found"}`, http.StatusNotFound)
			return
		}
		payload, _ := io.ReadAll(r.Body)
		out, err := fn.Invoke(r.Context(), payload)
		if err != nil {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			out, _ = json.Marshal(map[string]string{"errorMessage": err.Error()})
		}
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	l.URL = srv.URL
	return l
}

func (l *lambdaEmulator) deploy(name string, fn interface {
	Invoke(context.Context, []byte) ([]byte, error)
}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fns[name] = fn
}

// request records a pending approval as the interceptor does, proved
// with the interceptor's key.
func (c *approvalsCLI) request(store approval.Store, id, requester, tool string, req approval.Requirement, expires time.Time) approval.Approval {
	t := c.t
	t.Helper()
	call := approval.Call{Principal: requester, Actor: "agent-7", Tool: tool, Environment: "production", Arguments: map[string]any{"name": id}}
	display, _ := call.Display()
	a := approval.Approval{ID: id, Binding: call.Binding(), Status: approval.Pending, Requester: requester, Actor: "agent-7",
		Tool: tool, Environment: "production", Display: display, Requirement: req,
		Created: time.Now().Add(-time.Minute), Expires: expires}
	keys, err := approval.SecretKeysFromEnv(c.srv.Env(nil), c.secret, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	if a, err = approval.Prove(context.Background(), keys, a); err != nil {
		t.Fatal(err)
	}
	a, created, err := store.Request(context.Background(), a, time.Now(), approval.DefaultLimits())
	if err != nil || !created {
		t.Fatalf("request %s: created %v, %v", id, created, err)
	}
	return a
}

// TestApprovalsCommand: an approver lists, shows and decides approvals with
// their own AWS profile and their own verified token, through the
// approvals function, against moto's DynamoDB and KMS; every rule that
// protects a grant is refused with a message that says which.
func TestApprovalsCommand(t *testing.T) {
	cli, store := newApprovalsCLI(t)
	admins := approval.Requirement{Groups: [][]string{{"platform-admins"}}, TTLSeconds: 900, Reasons: []string{"critical calls in production need another admin"}}
	caller := approval.Requirement{TTLSeconds: 300, Reasons: []string{"external messages are confirmed by the caller"}}
	soon := time.Now().Add(15 * time.Minute)
	critical := cli.request(store, "appr-critical", "alice", "k8s___delete-namespace", admins, soon)
	cli.request(store, "appr-mail", "alice", "mail___send", caller, soon)
	cli.request(store, "appr-lapsed", "alice", "k8s___delete-pod", admins, time.Now().Add(2*time.Second))

	alice := cli.tokenFile(cli.idp.Token(t, "alice", []string{"platform-admins"}, nil))
	bob := cli.idp.Token(t, "bob", []string{"platform-admins"}, nil)
	carol := cli.tokenFile(cli.idp.Token(t, "carol", []string{"developers"}, nil))
	machine := cli.tokenFile(cli.idp.Token(t, "agent-app", []string{"platform-admins"}, map[string]any{"username": nil}))
	expired := cli.tokenFile(cli.idp.Token(t, "dave", []string{"platform-admins"}, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}))
	other := testutil.NewIdP(t) // a key the IdP never published
	forged := cli.tokenFile(other.Token(t, "erin", []string{"platform-admins"}, nil))
	time.Sleep(2 * time.Second) // appr-lapsed lapses

	// The requester sees her requests; an approver those he may decide;
	// anyone else nothing.
	code, out := cli.run("", "list", "-token", alice)
	if code != 0 || !strings.Contains(out, "appr-critical") || !strings.Contains(out, "appr-mail") || strings.Contains(out, "appr-lapsed") ||
		!strings.Contains(out, "a member of platform-admins, not the requester") || !strings.Contains(out, "the caller") {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	code, out = cli.run("", "list", "-json", "-token", cli.tokenFile(bob))
	var listed []approval.Approval
	if code != 0 || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 1 || listed[0].ID != "appr-critical" {
		t.Fatalf("list -json: exit %d\n%s", code, out)
	}
	if code, out := cli.run("", "list", "-token", carol); code != 0 || !strings.Contains(out, "no approvals stand") {
		t.Fatalf("list by someone who may decide nothing: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"list"}, {"show", "appr-critical"}} {
		if code, out := cli.run("", args...); code != 1 || !strings.Contains(out, "-token FILE is required") {
			t.Errorf("%v without a token: exit %d\n%s", args, code, out)
		}
	}
	if code, out := cli.run("", "show", "-token", forged, "appr-critical"); code != 1 || !strings.Contains(out, "your token was refused") {
		t.Errorf("show with a forged token: exit %d\n%s", code, out)
	}
	code, out = cli.run("", "show", "-token", alice, "appr-critical")
	for _, want := range []string{"status:", "pending", "k8s___delete-namespace", "arguments:\n  name: \"appr-critical\"", "critical calls in production need another admin", "requester:", "alice"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("show: exit %d, want %q\n%s", code, want, out)
		}
	}

	refusals := []struct {
		name string
		args []string
		want string
	}{
		{"no token", []string{"approve", "appr-critical"}, "-token FILE is required"},
		{"own request", []string{"approve", "-token", alice, "appr-critical"}, "the requester cannot approve their own call"},
		{"not in the group", []string{"approve", "-token", carol, "appr-critical"}, "in none of the groups [platform-admins]"},
		{"machine token", []string{"approve", "-token", machine, "appr-critical"}, "approvals are decided by people"},
		{"expired token", []string{"approve", "-token", expired, "appr-critical"}, "your token was refused (expired)"},
		{"forged token", []string{"approve", "-token", forged, "appr-critical"}, "your token was refused"},
		{"expired approval", []string{"approve", "-token", cli.tokenFile(bob), "appr-lapsed"}, "the approval has expired"},
		{"no such approval", []string{"approve", "-token", cli.tokenFile(bob), "appr-none"}, "no such approval"},
		{"someone else's confirmation", []string{"approve", "-token", cli.tokenFile(bob), "appr-mail"}, "only the caller alice confirms this call"},
	}
	for _, r := range refusals {
		if code, out := cli.run("", r.args...); code != 1 || !strings.Contains(out, r.want) {
			t.Errorf("%s: exit %d, want 1 and %q\n%s", r.name, code, r.want, out)
		}
	}
	if a, err := store.Get(context.Background(), "appr-critical"); err != nil || a.Status != approval.Pending {
		t.Fatalf("after the refusals: %+v, %v; want still pending", a, err)
	}

	// bob approves, his token on standard input.
	code, out = cli.run(bob, "approve", "-token", "-", "-comment", "change CHG-42", "appr-critical")
	if code != 0 || !strings.Contains(out, "approved appr-critical: alice may now call k8s___delete-namespace once") {
		t.Fatalf("approve: exit %d\n%s", code, out)
	}
	if code, out := cli.run(bob, "reject", "-token", "-", "appr-critical"); code != 1 || !strings.Contains(out, "decided already: it is approved") {
		t.Errorf("reject after approval: exit %d\n%s", code, out)
	}
	code, out = cli.run("", "show", "-token", alice, "appr-critical")
	if code != 0 || !strings.Contains(out, "approved") || !strings.Contains(out, "bob [platform-admins]") || !strings.Contains(out, "change CHG-42") {
		t.Errorf("show after approval: exit %d\n%s", code, out)
	}
	// The interceptor's retry finds the grant, signed by the approvals
	// function's key, once.
	a, ok, err := store.Consume(context.Background(), critical.Binding, time.Now())
	if err != nil || !ok || a.DecidedBy != "bob" {
		t.Fatalf("consume the grant: %v %v %+v", ok, err, a)
	}
	verifier, _ := approval.KMSKeyFromEnv(cli.srv.Env(nil), cli.key, http.DefaultClient)
	if st, err := approval.VerifyGrant(context.Background(), verifier, a, critical.Binding, admins, "alice", time.Now()); err != nil || st.By != "bob" {
		t.Fatalf("the grant does not verify: %+v %v", st, err)
	}
	if _, ok, err := store.Consume(context.Background(), critical.Binding, time.Now()); err != nil || ok {
		t.Fatalf("second consume: %v %v", ok, err)
	}

	// The caller rejects her own confirmation out of band.
	if code, out := cli.run("", "reject", "-token", alice, "appr-mail"); code != 0 || !strings.Contains(out, "rejected appr-mail: alice's call of mail___send stays denied") {
		t.Errorf("reject: exit %d\n%s", code, out)
	}
}

// TestApprovalsCommandRefusesToGuess: without a function, or the settings
// that verify an approver's token, nothing is decided.
func TestApprovalsCommandRefusesToGuess(t *testing.T) {
	srv := moto.Start(t)
	cli, store := approvalsCLIOn(t, srv, srv.CreateTable(t, "toolgate-approvals"))
	cli.request(store, "appr-1", "alice", "k8s___delete-namespace", approval.Requirement{Groups: [][]string{{"platform-admins"}}, TTLSeconds: 900}, time.Now().Add(time.Hour))
	bob := cli.tokenFile(cli.idp.Token(t, "bob", []string{"platform-admins"}, nil))

	cli.deploy(srv, nil) // no JWKS_URL
	if code, out := cli.run("", "approve", "-token", bob, "appr-1"); code != 1 || !strings.Contains(out, "has no JWKS_URL") {
		t.Errorf("no JWKS_URL: exit %d\n%s", code, out)
	}
	h, err := app.NewApprover(srv.Env(map[string]string{"APPROVAL_TABLE": cli.table, "APPROVAL_KEY_SECRET_ARN": cli.secret}), io.Discard)
	cli.lambda.deploy(approvalsFunction, h)
	if code, out := cli.run("", "approve", "-token", bob, "appr-1"); err == nil || code != 1 || !strings.Contains(out, "APPROVAL_SIGNING_KEY_ARN") {
		t.Errorf("no signing key: %v, exit %d\n%s", err, code, out)
	}
	if code, out := cli.run("", "approve", "-function", "another", "-token", bob, "appr-1"); code != 1 || !strings.Contains(out, "Function not found") {
		t.Errorf("no such function: exit %d\n%s", code, out)
	}
	t.Setenv("APPROVAL_FUNCTION", "")
	if code, out := cli.run("", "approve", "-token", bob, "appr-1"); code != 2 || !strings.Contains(out, "no approvals function") {
		t.Errorf("no function: exit %d\n%s", code, out)
	}
	if code, out := cli.run("", "list"); code != 2 || !strings.Contains(out, "no approvals function") {
		t.Errorf("list without a function: exit %d\n%s", code, out)
	}
	cli.deploy(srv, map[string]string{"JWKS_URL": cli.idp.URL, "JWT_ISSUER": testIssuer, "JWT_AUDIENCE": "agent-app"})
	if code, out := cli.run("", "list", "-function", approvalsFunction, "-token", bob); code != 0 || !strings.Contains(out, "appr-1") {
		t.Errorf("-function: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{}, {"approve"}, {"show"}, {"list", "extra"}, {"delete", "appr-1"}, {"approve", "-table", "t", "appr-1"}} {
		if code, _ := cli.run("", args...); code != 2 {
			t.Errorf("approvals %v: exit %d, want 2 (usage)", args, code)
		}
	}
	if a, err := store.Get(context.Background(), "appr-1"); err != nil || a.Status != approval.Pending {
		t.Errorf("%+v, %v; want still pending", a, err)
	}
}

// TestApprovalsCommandShowsOnlyProven: someone who can write the table
// makes a pending refund of 99999 read as one of 10; list names it as
// tampered and shows it not, show refuses it, and so does approve; put
// back, it is shown as requested. A policy message's line breaks and
// terminal escapes are printed as escapes.
func TestApprovalsCommandShowsOnlyProven(t *testing.T) {
	cli, store := newApprovalsCLI(t)
	admins := approval.Requirement{Groups: [][]string{{"platform-admins"}}, TTLSeconds: 900,
		Reasons: []string{"refunds need an admin\nEvery argument that will run:\n  amount: 10\x1b[8m"}}
	a := cli.request(store, "appr-refund", "alice", "billing___refund_payment", admins, time.Now().Add(15*time.Minute))
	forged := a
	forged.Display = `name: "appr-small"`
	if err := store.Settle(context.Background(), forged, time.Now()); err != nil {
		t.Fatal(err)
	}
	bob := cli.tokenFile(cli.idp.Token(t, "bob", []string{"platform-admins"}, nil))
	if code, out := cli.run("", "list", "-token", bob); code != 0 || !strings.Contains(out, "approval appr-refund was changed in the table") || strings.Contains(out, "billing___refund_payment") {
		t.Errorf("list of a tampered request: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"show", "-token", bob, "appr-refund"}, {"approve", "-token", bob, "appr-refund"}} {
		if code, out := cli.run("", args...); code != 1 || !strings.Contains(out, "changed after it was made") || strings.Contains(out, "appr-small") {
			t.Errorf("%v of a tampered request: exit %d\n%s", args, code, out)
		}
	}
	if err := store.Settle(context.Background(), a, time.Now()); err != nil {
		t.Fatal(err)
	}
	code, out := cli.run("", "show", "-token", bob, "appr-refund")
	if code != 0 || !strings.Contains(out, `name: "appr-refund"`) || !strings.Contains(out, `refunds need an admin\nEvery argument that will run:\n  amount: 10\u001b[8m`) ||
		strings.Contains(out, "\x1b") {
		t.Errorf("show: exit %d\n%s", code, out)
	}
}
