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
	"github.com/toolgate/toolgate/internal/awsenv"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/identity"
)

const approvalsUsage = `usage: toolgate approvals list [-table TABLE] [-json]
       toolgate approvals show [-table TABLE] [-json] ID
       toolgate approvals approve|reject [-function NAME] -token FILE [-comment TEXT] ID
  list     the approvals that stand: pending, approved (not yet used), rejected
  show     one approval: the call, every argument that will run, who may decide
  approve  grant the call once; reject: refuse it until the request lapses
TABLE defaults to APPROVAL_TABLE, NAME to APPROVAL_FUNCTION (the stack's
ApprovalTableName and ApprovalFunctionName outputs). AWS access comes from
the SDK's default chain (environment, profiles, SSO); an approver needs
dynamodb:GetItem and Scan on the table and lambda:InvokeFunction on the
approvals function (the stack's ApproverPolicy), and cannot write the
table. -token is a file holding the approver's own JWT ("-": standard
input): the approvals function verifies it as the interceptor verifies
callers, and its subject and groups decide who may approve; then it signs
the decision, which is what makes it a grant.
`

// approvalsEnv is what the approvals command runs with.
type approvalsEnv struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// store opens the approval table.
	store func(ctx context.Context, table string) (approval.Store, error)
	// decide invokes the approvals function.
	decide func(ctx context.Context, function string, req approver.Request) (approver.Response, error)
	now    func() time.Time
}

// dynamoStore returns the approval table with the credentials and region
// of the SDK's default configuration (profiles, SSO), through the client
// the function uses; AWS_ENDPOINT_URL_DYNAMODB, else AWS_ENDPOINT_URL,
// overrides the endpoint.
func (a *awsAccess) dynamoStore(ctx context.Context, table string) (approval.Store, error) {
	cfg, endpoint, err := a.service(ctx, "DYNAMODB")
	if err != nil {
		return nil, err
	}
	return approval.NewDynamoDB(awsenv.NewDynamoDB(cfg.Region, endpoint, cfg.Credentials, nil), table), nil
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
	table, function := new(string), new(string)
	asJSON, tokenFile, comment := new(bool), new(string), new(string)
	wantID := true
	switch verb {
	case "list":
		wantID = false
		fl.StringVar(table, "table", "", "the approval table (default: APPROVAL_TABLE)")
		fl.BoolVar(asJSON, "json", false, "print the approvals as JSON")
	case "show":
		fl.StringVar(table, "table", "", "the approval table (default: APPROVAL_TABLE)")
		fl.BoolVar(asJSON, "json", false, "print the approval as JSON")
	case "approve", "reject":
		fl.StringVar(function, "function", "", "the approvals function (default: APPROVAL_FUNCTION)")
		fl.StringVar(tokenFile, "token", "", "file with your JWT (- for standard input)")
		fl.StringVar(comment, "comment", "", "why, for the record")
	case "help", "-h", "-help", "--help":
		fmt.Fprint(env.stdout, approvalsUsage)
		return 0
	default:
		fmt.Fprintf(env.stderr, "unknown approvals command %q\n%s", verb, approvalsUsage)
		return 2
	}
	if err := fl.Parse(args[1:]); err != nil {
		return 2
	}
	if wantID && fl.NArg() != 1 || !wantID && fl.NArg() != 0 {
		fmt.Fprint(env.stderr, approvalsUsage)
		return 2
	}
	decides := verb == "approve" || verb == "reject"
	name := cmp.Or(strings.TrimSpace(*table), strings.TrimSpace(env.getenv("APPROVAL_TABLE")))
	if decides {
		name = cmp.Or(strings.TrimSpace(*function), strings.TrimSpace(env.getenv("APPROVAL_FUNCTION")))
		if name == "" {
			fmt.Fprintln(env.stderr, "approvals: no approvals function: pass -function or set APPROVAL_FUNCTION (the stack's ApprovalFunctionName output)")
			return 2
		}
	} else if name == "" || name == config.MemoryState {
		fmt.Fprintln(env.stderr, "approvals: no approval table: pass -table or set APPROVAL_TABLE (the stack's ApprovalTableName output)")
		return 2
	}
	// The SDK retries; this bounds it all, as for publish.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	switch verb {
	case "list":
		err = listApprovals(ctx, env, name, *asJSON)
	case "show":
		err = showApproval(ctx, env, name, fl.Arg(0), *asJSON)
	default:
		err = decideApproval(ctx, env, name, fl.Arg(0), verb == "approve", *tokenFile, *comment)
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "approvals %s: %v\n", verb, err)
		return 1
	}
	return 0
}

func listApprovals(ctx context.Context, env approvalsEnv, table string, asJSON bool) error {
	store, err := env.store(ctx, table)
	if err != nil {
		return err
	}
	now := env.now()
	list, err := store.List(ctx, now)
	if err != nil {
		return err
	}
	if asJSON {
		if list == nil {
			list = []approval.Approval{}
		}
		return writeJSON(env.stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(env.stdout, "no approvals stand")
		return nil
	}
	w := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSTATUS\tTOOL\tENVIRONMENT\tREQUESTER\tAPPROVERS\tEXPIRES")
	for _, a := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Status, a.Tool, a.Environment, a.Requester,
			approvers(a.Requirement), until(a.Expires, now))
	}
	return w.Flush()
}

func showApproval(ctx context.Context, env approvalsEnv, table, id string, asJSON bool) error {
	store, err := env.store(ctx, table)
	if err != nil {
		return err
	}
	a, err := store.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("%s: %w", id, err)
	}
	if asJSON {
		return writeJSON(env.stdout, a)
	}
	printApproval(env.stdout, a, env.now())
	return nil
}

// decideApproval hands the decision to the approvals function, with the
// approver's token: who decides is the token's verified subject, never a
// flag, and only that function can sign a grant.
func decideApproval(ctx context.Context, env approvalsEnv, function, id string, approve bool, tokenFile, comment string) error {
	token, err := readToken(env, tokenFile)
	if err != nil {
		return err
	}
	resp, err := env.decide(ctx, function, approver.Request{Action: approver.ActionDecide, ID: id, Approve: approve, Token: token, Comment: comment})
	if err != nil {
		return err
	}
	if !resp.OK || resp.Approval == nil {
		return errors.New(cmp.Or(resp.Error, "the approvals function gave no answer"))
	}
	a := resp.Approval
	if approve {
		fmt.Fprintf(env.stdout, "approved %s: %s may now call %s once with these arguments, until %s\n",
			a.ID, a.Requester, a.Tool, a.Expires.UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintf(env.stdout, "rejected %s: %s's call of %s stays denied until %s\n",
			a.ID, a.Requester, a.Tool, a.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// readToken reads the approver's JWT from file ("-": standard input).
func readToken(env approvalsEnv, file string) (string, error) {
	if file == "" {
		return "", errors.New("-token FILE is required: a decision is made by the holder of a verified token")
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

func printApproval(w io.Writer, a approval.Approval, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
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
	return "a member of " + r.GroupsText() + ", not the requester"
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
