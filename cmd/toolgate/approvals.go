package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/approver"
	"github.com/toolgate/toolgate/internal/identity"
)

const approvalsUsage = `usage: toolgate approvals list [-function NAME] -token FILE [-json]
       toolgate approvals show [-function NAME] -token FILE [-json] ID
       toolgate approvals approve|reject [-function NAME] -token FILE [-comment TEXT] ID
  list     the approvals that stand that you may decide or asked for:
           pending, approved (not yet used), rejected
  show     one approval: the call, every argument that will run, who may decide
  approve  grant the call once; reject: refuse it until the request lapses
NAME defaults to APPROVAL_FUNCTION (the stack's ApprovalFunctionName
output): every command goes through the approvals function, which answers
only what the interceptor proved it requested (a row someone changed in the
table is named as tampered, never shown) and is the only one that can sign
a decision. AWS access comes from the SDK's default chain (environment,
profiles, SSO); an approver needs lambda:InvokeFunction on the function (the
stack's ApproverPolicy), nothing on the table. -token is a file holding the
approver's own JWT ("-": standard input): the function verifies it as the
interceptor verifies callers, and its subject and groups decide what you
may see and approve.
`

// approvalsEnv is what the approvals command runs with.
type approvalsEnv struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// invoke invokes the approvals function.
	invoke func(ctx context.Context, function string, req approver.Request) (approver.Response, error)
	now    func() time.Time
}

func approvals(args []string, env approvalsEnv) int {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, approvalsUsage)
		return 2
	}
	verb := args[0]
	fl := flag.NewFlagSet("approvals "+verb, flag.ContinueOnError)
	fl.SetOutput(env.stderr)
	fl.Usage = func() { fmt.Fprint(env.stderr, approvalsUsage) }
	function := fl.String("function", "", "the approvals function (default: APPROVAL_FUNCTION)")
	asJSON, tokenFile, comment := new(bool), new(string), new(string)
	wantID := true
	switch verb {
	case "list":
		wantID = false
		fl.BoolVar(asJSON, "json", false, "print the approvals as JSON")
	case "show":
		fl.BoolVar(asJSON, "json", false, "print the approval as JSON")
	case "approve", "reject":
		fl.StringVar(comment, "comment", "", "why, for the record")
	case "help", "-h", "-help", "--help":
		fmt.Fprint(env.stdout, approvalsUsage)
		return 0
	default:
		fmt.Fprintf(env.stderr, "unknown approvals command %q\n%s", verb, approvalsUsage)
		return 2
	}
	fl.StringVar(tokenFile, "token", "", "file with your JWT (- for standard input)")
	if err := fl.Parse(args[1:]); err != nil {
		return 2
	}
	if wantID && fl.NArg() != 1 || !wantID && fl.NArg() != 0 {
		fmt.Fprint(env.stderr, approvalsUsage)
		return 2
	}
	name := cmp.Or(strings.TrimSpace(*function), strings.TrimSpace(env.getenv("APPROVAL_FUNCTION")))
	if name == "" {
		fmt.Fprintln(env.stderr, "approvals: no approvals function: pass -function or set APPROVAL_FUNCTION (the stack's ApprovalFunctionName output)")
		return 2
	}
	// The SDK retries; this bounds it all, as for publish.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	token, err := readToken(env, *tokenFile)
	if err == nil {
		switch verb {
		case "list":
			err = listApprovals(ctx, env, name, token, *asJSON)
		case "show":
			err = showApproval(ctx, env, name, token, fl.Arg(0), *asJSON)
		default:
			err = decideApproval(ctx, env, name, token, fl.Arg(0), verb == "approve", *comment)
		}
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "approvals %s: %v\n", verb, err)
		return 1
	}
	return 0
}

// ask invokes the approvals function with req, and returns its answer or
// its refusal as an error.
func ask(ctx context.Context, env approvalsEnv, function string, req approver.Request) (approver.Response, error) {
	resp, err := env.invoke(ctx, function, req)
	if err == nil && !resp.OK {
		err = errors.New(cmp.Or(resp.Error, "the approvals function gave no answer"))
	}
	return resp, err
}

func listApprovals(ctx context.Context, env approvalsEnv, function, token string, asJSON bool) error {
	resp, err := ask(ctx, env, function, approver.Request{Action: approver.ActionList, Token: token})
	if err != nil {
		return err
	}
	for _, id := range resp.Tampered {
		fmt.Fprintf(env.stderr, "warning: approval %s was changed in the table after it was requested: it cannot be decided\n", approval.Visible(id))
	}
	if asJSON {
		return writeJSON(env.stdout, resp.Approvals)
	}
	if len(resp.Approvals) == 0 {
		fmt.Fprintln(env.stdout, "no approvals stand")
		return nil
	}
	now := env.now()
	v := approval.Visible
	w := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSTATUS\tTOOL\tENVIRONMENT\tREQUESTER\tAPPROVERS\tEXPIRES")
	for _, a := range resp.Approvals {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v(a.ID), v(string(a.Status)), v(a.Tool), v(a.Environment), v(a.Requester),
			approvers(a.Requirement), until(a.Expires, now))
	}
	return w.Flush()
}

func showApproval(ctx context.Context, env approvalsEnv, function, token, id string, asJSON bool) error {
	resp, err := ask(ctx, env, function, approver.Request{Action: approver.ActionShow, ID: id, Token: token})
	if err != nil {
		return err
	}
	if resp.Approval == nil {
		return errors.New("the approvals function gave no approval")
	}
	if asJSON {
		return writeJSON(env.stdout, resp.Approval)
	}
	printApproval(env.stdout, *resp.Approval, env.now())
	return nil
}

// decideApproval hands the decision to the approvals function, with the
// approver's token: who decides is the token's verified subject, never a
// flag, and only that function can sign a grant.
func decideApproval(ctx context.Context, env approvalsEnv, function, token, id string, approve bool, comment string) error {
	resp, err := ask(ctx, env, function, approver.Request{Action: approver.ActionDecide, ID: id, Approve: approve, Token: token, Comment: comment})
	if err != nil {
		return err
	}
	if resp.Approval == nil {
		return errors.New("the approvals function gave no approval")
	}
	a, v := resp.Approval, approval.Visible
	if approve {
		fmt.Fprintf(env.stdout, "approved %s: %s may now call %s once with these arguments, until %s\n",
			v(a.ID), v(a.Requester), v(a.Tool), a.Expires.UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintf(env.stdout, "rejected %s: %s's call of %s stays denied until %s\n",
			v(a.ID), v(a.Requester), v(a.Tool), a.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// readToken reads the approver's JWT from file ("-": standard input).
func readToken(env approvalsEnv, file string) (string, error) {
	if file == "" {
		return "", errors.New("-token FILE is required: approvals are read and decided by the holder of a verified token")
	}
	var raw []byte
	var err error
	if file == "-" {
		raw, err = io.ReadAll(io.LimitReader(env.stdin, identity.MaxTokenBytes+1))
	} else {
		raw, err = os.ReadFile(file)
	}
	if err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(raw)), "Bearer ")), nil
}

// printApproval prints a, every text as a reader sees it (approval.Visible):
// a policy's message, a comment or a name cannot draw lines of its own or
// send a terminal escape.
func printApproval(w io.Writer, a approval.Approval, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, approval.Visible(v))
		}
	}
	row("id", a.ID)
	row("status", string(a.Status))
	row("tool", a.Tool)
	row("environment", a.Environment)
	row("requester", a.Requester)
	row("actor", a.Actor)
	row("arguments digest", a.ArgsDigest)
	row("approvers", approvers(a.Requirement))
	row("why", strings.Join(a.Requirement.Reasons, "; "))
	row("requested", a.Created.UTC().Format(time.RFC3339))
	row("expires", a.Expires.UTC().Format(time.RFC3339)+" ("+until(a.Expires, now)+")")
	if a.DecidedBy != "" {
		row("decided by", fmt.Sprintf("%s %v at %s", a.DecidedBy, a.DeciderGroups, a.DecidedAt.UTC().Format(time.RFC3339)))
	}
	row("comment", a.Comment)
	if !a.UsedAt.IsZero() {
		row("used", a.UsedAt.UTC().Format(time.RFC3339))
	}
	_ = tw.Flush()
	// Every argument that will run, whole, one member a line.
	fmt.Fprintln(w, "arguments:")
	for l := range strings.SplitSeq(a.Display, "\n") {
		fmt.Fprintln(w, "  "+l)
	}
}

// approvers says who may decide under r.
func approvers(r approval.Requirement) string {
	if r.Caller() {
		return "the caller"
	}
	return "a member of " + approval.Visible(r.GroupsText()) + ", not the requester"
}

// until says how long until t, or that it has passed.
func until(t, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	if d <= 0 {
		return "expired"
	}
	return "in " + d.String()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
