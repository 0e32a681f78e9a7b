// Package cli is the interceptor's command line, for running the real handler
// outside Lambda: "invoke" decides on event files and prints the interceptor
// output and the decision; "test" runs a bundle's own test cases.
package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/toolgate/toolgate/pkg/config"
	"github.com/toolgate/toolgate/pkg/decision"
	"github.com/toolgate/toolgate/pkg/policytest"
)

const usage = `usage:
  bootstrap invoke [-policies DIR] [-env ENV] [-explain] [-v] EVENT.json|DIR ...
      Run the interceptor on event files (a directory means its *.json files)
      and print each output and decision. Exit status 0 unless a file cannot be read.
  bootstrap test [-env ENV] [DIR]
      Run the test cases of the bundle in DIR (default: the embedded bundle).
      Exit status 1 if a case fails or the bundle does not load.

Outside Lambda this binary is this command; under Lambda it is the handler.
POLICY_SOURCE, ENVIRONMENT and DENY_STATUS_CODE apply as in Lambda; flags win.
`

// Main runs the command line and returns the exit status.
func Main(args []string, embedded fs.FS, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "invoke":
		return invoke(args[1:], embedded, getenv, stdout, stderr)
	case "test":
		return test(args[1:], embedded, getenv, stdout, stderr)
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

func invoke(args []string, embedded fs.FS, getenv func(string) string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fl.SetOutput(stderr)
	policies := fl.String("policies", "", "policy bundle directory (default: POLICY_SOURCE, else embedded)")
	env := fl.String("env", "", "deployment environment (default: ENVIRONMENT, else production)")
	explain := fl.Bool("explain", false, "also print the attribute document and every finding")
	verbose := fl.Bool("v", false, "print the decision log to stderr")
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
	vars := map[string]string{"POLICY_SOURCE": *policies, "ENVIRONMENT": *env}
	if *verbose {
		logs = stderr
	} else {
		vars["LOG_LEVEL"] = "error"
		vars["AWS_LAMBDA_LOG_LEVEL"] = "error"
	}
	h, err := config.NewHandler(overlay(getenv, vars), embedded, logs, nil)
	if err != nil {
		fmt.Fprintf(stderr, "warning: %v\nevery request will be denied\n", err)
	} else {
		b := h.Bundle()
		fmt.Fprintf(stdout, "bundle: %s (%s, %d policies)\n", b.Source, b.Digest, len(b.Policies))
	}
	counts := map[decision.Effect]int{}
	for _, f := range files {
		payload, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		r := h.Handle(context.Background(), payload)
		counts[r.Decision.Effect]++
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
			for _, fd := range r.Decision.Findings {
				fmt.Fprintf(stdout, "finding: %s %s %s/%s: %s [%s]\n", fd.Mode, fd.Kind, fd.Policy, fd.Rule, fd.Message, fd.Detail)
			}
		}
		fmt.Fprintf(stdout, "output:\n%s\n", out)
	}
	fmt.Fprintf(stdout, "\n%d events: %d allowed, %d denied\n", len(files), counts[decision.Allow], counts[decision.Deny])
	return 0
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
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() > 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	vars := map[string]string{"POLICY_SOURCE": fl.Arg(0), "LOG_LEVEL": "error", "AWS_LAMBDA_LOG_LEVEL": "error"}
	h, err := config.NewHandler(overlay(getenv, vars), embedded, io.Discard, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	results, err := policytest.Run(h.Bundle(), policytest.Options{Environment: *env})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return Report(stdout, results)
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
