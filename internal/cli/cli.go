// Package cli is the interceptor's command line, for running the real handler
// outside Lambda and for the policy workflow: "invoke" decides on event
// files; "validate", "test" and "explain" check a bundle as its author
// would; "publish" puts a tested bundle in S3 for functions to pick up.
package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/toolgate/toolgate/internal/app"
	"github.com/toolgate/toolgate/internal/bundle"
	"github.com/toolgate/toolgate/internal/config"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/judge"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/policytest"
	"github.com/toolgate/toolgate/internal/s3bundle"
)

const usage = `usage: toolgate has every command; the Lambda bootstrap invoke, explain and test.
  toolgate invoke [-policies SOURCE] [-env ENV] [-explain] [-v] EVENT.json|DIR ...
      Run the interceptor on event files (a directory means its *.json files):
      one line per event (decision, event, denying policies, reason), or for
      one event, with -v (and the decision log on stderr) or -explain, the
      whole output. Exit status 0 unless a file cannot be read.
  toolgate explain [-policies SOURCE] [-env ENV] EVENT.json|DIR ...
      As invoke -explain: also print the attribute document the policies saw
      and every rule's outcome (pass, fail, error, skip) with its message.
  toolgate validate [DIR]
      Decode every document of the bundle in DIR (default: the embedded bundle)
      strictly and compile every policy; print every error with file and line.
  toolgate test [-env ENV] [-coverage] [-min-coverage PCT] [-consistency] [DIR]
      Run the test cases of the bundle in DIR (default: the embedded bundle);
      -coverage names each rule no case saw both pass and fail, and
      -min-coverage fails below that share of rules; -consistency checks,
      for the cases' callers and the catalog's tools, that a tools/list
      answer shows exactly the tools each caller may call.
      Exit status 1 if a case fails, there are none, or the bundle does not load.
  toolgate convert [SRC] OUT
      Write the bundle in SRC (default: the embedded bundle) into the new
      directory OUT with each kyverno-json policy that converts exactly
      rewritten as a CEL ValidatingPolicy (policies.kyverno.io/v1); print,
      per policy, that it converted or why it was kept, then run the
      bundle's tests on OUT. Exit status 1 if a test fails.
  toolgate publish [-to s3://BUCKET/PREFIX] DIR
      Validate and test the bundle in DIR, then upload it as
      PREFIX/bundle.tar.gz (default: POLICY_SOURCE) and print its new version.
      AWS credentials and region come from the SDK's default chain:
      environment, profiles (AWS_PROFILE), SSO, instance roles.
  toolgate init [-target NAME] DIR
      Write a first bundle into DIR: a catalog, a policy for the target's
      tools and the test cases that see each rule pass and fail.
  toolgate event [-sub SUB] [-groups G,...] [-claims JSON] [-tool NAME]
                 [-args JSON] [-method M] [-params JSON] [-version V]
                 [-session ID] [-response JSON]
      Print an interceptor event for invoke, explain or sam local invoke -e:
      a call by a caller with those claims (an unsigned token), at the
      REQUEST point, or with -response (the target's result) at the
      RESPONSE point.
  toolgate approvals list|show|approve|reject [-table TABLE] [ID]
      List, show and decide the approvals that policies asked for; approve
      and reject take the approver's verified JWT (-token FILE). See
      toolgate approvals help.
  toolgate pin [-pins FILE [-w]] LIST.json...
  toolgate pin [-pins FILE [-w]] -url URL [-token FILE]
      Pin each tool of tools/list answers (a JSON-RPC response, its result
      or its tools), or of a live listing of an MCP endpoint (the gateway's
      /mcp, with a bearer token), to its definition's digest, over FILE's
      pins: prints the ToolPins document (-w writes it to FILE) and says on
      standard error what was added and what changed since FILE.
  toolgate quarantine list|lift [-table TABLE] [KEY]
      List the callers a Containment holds in quarantine, or lift one. See
      toolgate quarantine help.

SOURCE is a bundle directory or s3://BUCKET/PREFIX. The Lambda bootstrap is
this command outside Lambda and the handler under it. POLICY_SOURCE,
ENVIRONMENT and DENY_STATUS_CODE apply as in Lambda; flags win.
`

// Env is what a command line runs with.
type Env struct {
	// Embedded is the default bundle.
	Embedded fs.FS
	Getenv   func(string) string
	Stdout   io.Writer
	Stderr   io.Writer
	// Store returns where publish writes bundles. Nil: the binary has no
	// validate and publish (the Lambda function keeps only what it runs;
	// cmd/toolgate has both).
	Store func(ctx context.Context, getenv func(string) string) (Store, error)
}

// Store is where publish writes a bundle archive.
type Store interface {
	// Head returns the identity of the archive at l, or s3bundle.ErrNotFound.
	Head(ctx context.Context, l s3bundle.Location) (s3bundle.Object, error)
	// Put writes data as the archive at l, with digest in its metadata.
	Put(ctx context.Context, l s3bundle.Location, data []byte, digest string) (s3bundle.Object, error)
}

// Main runs the command line args and returns the exit status.
func Main(args []string, env Env) int {
	embedded, getenv, stdout, stderr := env.Embedded, env.Getenv, env.Stdout, env.Stderr
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "invoke":
		return invoke(args[1:], false, embedded, getenv, stdout, stderr)
	case "explain":
		return invoke(args[1:], true, embedded, getenv, stdout, stderr)
	case "test":
		return test(args[1:], embedded, getenv, stdout, stderr)
	case "validate", "publish", "approvals", "quarantine", "init", "event", "pin", "convert":
		// cmd/toolgate runs approvals and quarantine itself, before this.
		if env.Store == nil || args[0] == "approvals" || args[0] == "quarantine" {
			fmt.Fprintf(stderr, "%s is a command of toolgate: go run ./cmd/toolgate %s ...\n", args[0], args[0])
			return 2
		}
		switch args[0] {
		case "validate":
			return validate(args[1:], embedded, getenv, stdout, stderr)
		case "init":
			return initBundle(args[1:], stdout, stderr)
		case "event":
			return event(args[1:], stdout, stderr)
		case "pin":
			return pin(args[1:], stdout, stderr)
		case "convert":
			return convertBundle(args[1:], embedded, getenv, stdout, stderr)
		}
		return publish(args[1:], env, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "unknown command %q\n%s", args[0], usage)
	return 2
}

// overlay returns getenv with some variables replaced.
func overlay(getenv func(string) string, vars map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := vars[k]; ok && v != "" {
			return v
		}
		return getenv(k)
	}
}

func invoke(args []string, explainAll bool, embedded fs.FS, getenv func(string) string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fl.SetOutput(stderr)
	policies := fl.String("policies", "", "policy bundle directory or s3:// prefix (default: POLICY_SOURCE, else embedded)")
	env := fl.String("env", "", "deployment environment (default: ENVIRONMENT, else production)")
	explain := fl.Bool("explain", explainAll, "also print the attribute document and every rule's outcome")
	verbose := fl.Bool("v", false, "print every output, and the decision log to stderr")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	files, err := eventFiles(fl.Args())
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	logs := io.Discard
	// Rate limits count in process unless a table is named.
	vars := map[string]string{"POLICY_SOURCE": *policies, "ENVIRONMENT": *env, "STATE_TABLE": cmp.Or(getenv("STATE_TABLE"), config.MemoryState),
		"APPROVAL_TABLE": cmp.Or(getenv("APPROVAL_TABLE"), config.MemoryState)}
	if *verbose {
		logs = stderr
	} else {
		vars["LOG_LEVEL"] = "error"
		vars["AWS_LAMBDA_LOG_LEVEL"] = "error"
	}
	h, err := app.NewHandler(overlay(getenv, vars), embedded, logs, nil)
	if err != nil {
		fmt.Fprintf(stderr, "warning: %v\nevery request will be denied\n", err)
	} else {
		fmt.Fprintf(stdout, "bundle: %s\n", describe(h.Bundle()))
	}
	counts := map[decision.Effect]int{}
	// Many events get a line each, as test runners print; one event, -v or
	// -explain the whole answer.
	full := len(files) == 1 || *verbose || *explain
	for _, f := range files {
		payload, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		r := h.Handle(context.Background(), payload)
		counts[r.Decision.Effect]++
		if !full {
			fmt.Fprintln(stdout, summary(f, r))
			continue
		}
		out, _ := json.MarshalIndent(r.Output, "", "  ")
		fmt.Fprintf(stdout, "\n== %s\n", f)
		fmt.Fprintf(stdout, "decision: %s", r.Decision.Effect)
		if r.Decision.Effect == decision.Deny {
			fmt.Fprintf(stdout, " (code %d): %s", r.Decision.Code, r.Decision.Reason)
		}
		fmt.Fprintf(stdout, "\ndecision id: %s\n", r.Decision.ID)
		if len(r.Decision.Hidden) > 0 {
			fmt.Fprintf(stdout, "tools hidden: %d %v\n", len(r.Decision.Hidden), r.Decision.Hidden)
		}
		if len(r.Decision.Redactions) > 0 {
			fmt.Fprintf(stdout, "redactions: %v\n", r.Decision.Redactions)
		}
		if *explain {
			if r.Document != nil {
				doc, _ := json.MarshalIndent(r.Document, "", "  ")
				fmt.Fprintf(stdout, "attribute document:\n%s\n", doc)
			}
			explainRules(stdout, h.Bundle(), r)
		}
		fmt.Fprintf(stdout, "output:\n%s\n", out)
	}
	fmt.Fprintf(stdout, "\n%d events: %d allowed, %d denied, %d waiting for approval\n", len(files), counts[decision.Allow], counts[decision.Deny], counts[decision.Approval])
	return 0
}

// summary is one event's line: the decision, the event, the denying
// policies and the reason, or what an allow changed.
func summary(file string, r judge.Result) string {
	d := r.Decision
	line := fmt.Sprintf("%-5s %-44s", d.Effect, filepath.Base(file))
	if d.Effect == decision.Deny || d.Effect == decision.Approval {
		mode := policy.ModeEnforce // the policies that denied, or asked
		if d.Effect == decision.Approval {
			mode = policy.ModeApproval
		}
		var names []string
		for _, f := range d.Findings {
			if f.Mode == mode && !slices.Contains(names, f.Policy) {
				names = append(names, f.Policy)
			}
		}
		return line + fmt.Sprintf(" %s: %s", strings.Join(names, ","), d.Reason)
	}
	if n := len(d.Hidden); n > 0 {
		line += fmt.Sprintf(" %d tools hidden", n)
	}
	if len(d.Redactions) > 0 {
		line += fmt.Sprintf(" redactions %v", d.Redactions)
	}
	return strings.TrimRight(line, " ")
}

// eventFiles expands directories into their *.json files, sorted.
func eventFiles(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		info, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, a)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(a, "*.json"))
		if err != nil {
			return nil, err
		}
		sort.Strings(matches)
		files = append(files, matches...)
	}
	return files, nil
}

func test(args []string, embedded fs.FS, getenv func(string) string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("test", flag.ContinueOnError)
	fl.SetOutput(stderr)
	env := fl.String("env", "", "default deployment environment of the cases (default: production)")
	coverage := fl.Bool("coverage", false, "report, per rule, whether some case saw it pass and some saw it fail")
	consistency := fl.Bool("consistency", false, "also check that tools/list shows exactly the tools each caller may call")
	minCoverage := fl.Float64("min-coverage", 0, "fail unless this percentage of rules both passed and failed in some case (implies -coverage)")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() > 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	vars := map[string]string{"POLICY_SOURCE": fl.Arg(0), "LOG_LEVEL": "error", "AWS_LAMBDA_LOG_LEVEL": "error"}
	h, err := app.NewHandler(overlay(getenv, vars), embedded, io.Discard, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	results, err := policytest.Run(h.Bundle(), policytest.Options{Environment: *env})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	rc := Report(stdout, results)
	if *consistency {
		found, err := policytest.Consistency(h.Bundle(), policytest.ConsistencyOptions{})
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		for _, f := range found {
			fmt.Fprintln(stdout, "INCONSISTENT "+f.String())
		}
		fmt.Fprintf(stdout, "list and call consistency: %d inconsistencies\n", len(found))
		if len(found) > 0 {
			rc = 1
		}
	}
	if *coverage || *minCoverage > 0 {
		if pct := reportCoverage(stdout, policytest.Coverage(h.Bundle(), results)); pct < *minCoverage {
			fmt.Fprintf(stderr, "coverage %.1f%% is below -min-coverage %.1f%%\n", pct, *minCoverage)
			rc = 1
		}
	}
	return rc
}

// reportCoverage prints each rule that some case did not see both pass
// and fail, and the share of rules that were; it returns that share, in
// percent.
func reportCoverage(w io.Writer, rules []policytest.RuleCoverage) float64 {
	both := 0
	yes := map[bool]string{true: "yes", false: "no"}
	for _, r := range rules {
		if r.Passed && r.Failed {
			both++
			continue
		}
		fmt.Fprintf(w, "  passed %-3s failed %-3s %s/%s\n", yes[r.Passed], yes[r.Failed], r.Policy, r.Rule)
	}
	pct := 100.0
	if len(rules) > 0 {
		pct = 100 * float64(both) / float64(len(rules))
	}
	fmt.Fprintf(w, "coverage: %d of %d rules passed in some case and failed in another (%.1f%%)\n", both, len(rules), pct)
	return pct
}

// Report prints test results and returns 0 if all passed, 1 otherwise.
func Report(w io.Writer, results []policytest.CaseResult) int {
	failed := 0
	for _, r := range results {
		if r.Pass {
			fmt.Fprintf(w, "PASS %s %s\n", r.Where, r.Name)
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL %s %s\n%s\n", r.Where, r.Name, indent(r.Diff))
	}
	fmt.Fprintf(w, "policy tests: %d passed, %d failed\n", len(results)-failed, failed)
	if failed > 0 || len(results) == 0 {
		return 1
	}
	return 0
}

func indent(s string) string {
	var buf bytes.Buffer
	for _, l := range strings.Split(s, "\n") {
		buf.WriteString("    " + l + "\n")
	}
	return strings.TrimRight(buf.String(), "\n")
}

// describe names a bundle and its version for people.
func describe(b *bundle.Bundle) string {
	s := fmt.Sprintf("%s (%s, %d policies, %d test documents)", b.Source, b.Digest, len(b.PolicyNames()), len(b.Tests))
	for _, l := range b.Layers {
		s += fmt.Sprintf(", layer %s %s", l.Source, l.Digest)
	}
	if b.Version != "" {
		s += ", version " + b.Version
	}
	return s
}

// explainRules prints every rule's outcome on the event's document; for an
// event no document was built for (malformed, or decided before policies
// ran), the decision's findings say why.
func explainRules(w io.Writer, b *bundle.Bundle, r judge.Result) {
	if r.Document == nil || b == nil || b.Engine == nil {
		for _, fd := range r.Decision.Findings {
			fmt.Fprintf(w, "finding: %s %s %s/%s: %s [%s]\n", fd.Mode, fd.Kind, fd.Policy, fd.Rule, fd.Message, fd.Detail)
		}
		return
	}
	fmt.Fprintln(w, "rules:")
	for _, rr := range b.Engine.Explain(r.Document.Value()) {
		mode := ""
		switch rr.Mode {
		case policy.ModeAudit:
			mode = " (audit)"
		case policy.ModeApproval:
			mode = " (approval)"
		}
		fmt.Fprintf(w, "  %-5s %s/%s%s\n", strings.ToUpper(rr.Outcome), rr.Policy, rr.Rule, mode)
		for _, f := range rr.Findings {
			fmt.Fprintf(w, "        %s\n", f.Message)
			if f.Detail != "" {
				fmt.Fprintf(w, "        (%s)\n", f.Detail)
			}
		}
	}
}

func validate(args []string, embedded fs.FS, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	source := ""
	if len(args) == 1 {
		source = args[0]
	}
	b, cases, err := checked(source, embedded, getenv)
	if err != nil {
		printLines(stderr, err)
		return 1
	}
	for _, w := range b.Warnings() {
		fmt.Fprintln(stderr, "warning: "+w)
	}
	fmt.Fprintf(stdout, "valid: %s, %d test cases\n", describe(b), cases)
	return 0
}

// checked loads the bundle at source and decodes its test documents,
// returning the number of test cases.
func checked(source string, embedded fs.FS, getenv func(string) string) (*bundle.Bundle, int, error) {
	b, err := bundle.Open(source, embedded, s3bundle.Fetcher(getenv))
	if err != nil {
		return nil, 0, err
	}
	cases, err := policytest.Check(b)
	return b, cases, err
}

// printLines prints an error one line at a time: a bundle's errors are
// joined, one per document.
func printLines(w io.Writer, err error) {
	for l := range strings.SplitSeq(err.Error(), "\n") {
		fmt.Fprintln(w, l)
	}
}

// publishTimeout bounds the whole upload.
const publishTimeout = time.Minute

func publish(args []string, env Env, stdout, stderr io.Writer) int {
	getenv := env.Getenv
	fl := flag.NewFlagSet("publish", flag.ContinueOnError)
	fl.SetOutput(stderr)
	to := fl.String("to", getenv("POLICY_SOURCE"), "where to publish: s3://BUCKET/PREFIX (default: POLICY_SOURCE)")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() != 1 || fl.Arg(0) == "" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	dir := fl.Arg(0)
	loc, err := s3bundle.ParseURL(*to)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	// What functions will accept: it loads, compiles and passes its tests.
	b, _, err := checked(dir, nil, getenv)
	if err != nil {
		printLines(stderr, err)
		return 1
	}
	results, err := policytest.Run(b, policytest.Options{})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if Report(stdout, results) != 0 {
		fmt.Fprintln(stderr, "not published: the bundle's tests must all pass")
		return 1
	}
	var archive bytes.Buffer
	if err := b.Archive(&archive); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	// The archive must be the bundle just tested, byte for byte in meaning.
	if a, err := bundle.ReadArchive(archive.Bytes(), loc.URL()); err != nil || a.Digest != b.Digest {
		fmt.Fprintf(stderr, "archive does not reproduce the bundle: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	client, err := env.Store(ctx, getenv)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	cur, err := client.Head(ctx, loc)
	switch {
	case err == nil && cur.Digest == b.Digest:
		fmt.Fprintf(stdout, "unchanged: %s already holds %s\nversion: %s\n", loc.URL(), b.Digest, cur.VersionID)
		return 0
	case err != nil && !errors.Is(err, s3bundle.ErrNotFound):
		fmt.Fprintln(stderr, err)
		return 1
	}
	obj, err := client.Put(ctx, loc, archive.Bytes(), b.Digest)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "published: %s\nversion: %s\netag: %s\ndigest: %s\n", loc.URL(), obj.VersionID, obj.ETag, b.Digest)
	if cur.VersionID != "" {
		fmt.Fprintf(stdout, "previous version: %s (%s)\n", cur.VersionID, cmp.Or(cur.Digest, "digest unknown"))
	}
	if obj.VersionID == "" {
		fmt.Fprintln(stderr, "warning: the bucket does not keep versions: earlier bundles are gone")
	}
	return 0
}
