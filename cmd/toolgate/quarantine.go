package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/awsenv"
	"github.com/toolgate/toolgate/internal/state"
)

const quarantineUsage = `usage: toolgate quarantine list [-table T] [-json]
       toolgate quarantine lift [-table T] KEY

A bundle's Containment documents hold a caller refused too often in
quarantine (see docs/sessions.md#containment). list shows the quarantines
in force: their key, the containment, whom they hold, since when and until
when. lift ends one by its key, and forgets the denials that began it.
The table is the state table (-table, default STATE_TABLE: the stack's
StateTableName output); AWS access comes from the SDK's default chain
(environment, profiles, SSO) and needs dynamodb:Scan (list) and
dynamodb:DeleteItem (lift) on it.
`

// quarantineEnv is what the quarantine command runs with.
type quarantineEnv struct {
	getenv         func(string) string
	stdout, stderr io.Writer
	// store returns the quarantines kept in table.
	store func(ctx context.Context, table string) (state.Quarantines, error)
	now   func() time.Time
}

func quarantine(args []string, env quarantineEnv) int {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, quarantineUsage)
		return 2
	}
	verb := args[0]
	fl := flag.NewFlagSet("quarantine "+verb, flag.ContinueOnError)
	fl.SetOutput(env.stderr)
	fl.Usage = func() { fmt.Fprint(env.stderr, quarantineUsage) }
	table := fl.String("table", "", "the state table (default: STATE_TABLE)")
	asJSON := new(bool)
	args1 := 0
	switch verb {
	case "list":
		fl.BoolVar(asJSON, "json", false, "print the quarantines as JSON")
	case "lift":
		args1 = 1
	case "help", "-h", "-help", "--help":
		fmt.Fprint(env.stdout, quarantineUsage)
		return 0
	default:
		fmt.Fprintf(env.stderr, "unknown quarantine command %q\n%s", verb, quarantineUsage)
		return 2
	}
	if err := fl.Parse(args[1:]); err != nil {
		return 2
	}
	if fl.NArg() != args1 {
		fmt.Fprint(env.stderr, quarantineUsage)
		return 2
	}
	name := cmp.Or(strings.TrimSpace(*table), strings.TrimSpace(env.getenv("STATE_TABLE")))
	if name == "" {
		fmt.Fprintln(env.stderr, "quarantine: no state table: pass -table or set STATE_TABLE (the stack's StateTableName output)")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := env.store(ctx, name)
	if err == nil {
		switch verb {
		case "list":
			err = listQuarantines(ctx, env, store, *asJSON)
		case "lift":
			err = liftQuarantine(ctx, env, store, fl.Arg(0))
		}
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "quarantine %s: %v\n", verb, err)
		return 1
	}
	return 0
}

// quarantineJSON is a quarantine as list -json prints it.
type quarantineJSON struct {
	Key         string            `json:"key"`
	Containment string            `json:"containment"`
	Subject     map[string]string `json:"subject"`
	Began       time.Time         `json:"began"`
	Until       time.Time         `json:"until"`
	Denials     int64             `json:"denials"`
}

func listQuarantines(ctx context.Context, env quarantineEnv, store state.Quarantines, asJSON bool) error {
	now := env.now()
	list, err := store.Quarantines(ctx, now)
	if err != nil {
		return err
	}
	if asJSON {
		out := make([]quarantineJSON, 0, len(list))
		for _, q := range list {
			out = append(out, quarantineJSON{Key: q.Key, Containment: q.Containment, Subject: q.Subject, Began: q.Began, Until: q.Until, Denials: q.Denials})
		}
		return writeJSON(env.stdout, out)
	}
	if len(list) == 0 {
		fmt.Fprintln(env.stdout, "no quarantine in force")
		return nil
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tCONTAINMENT\tHOLDS\tBEGAN\tUNTIL\tDENIALS")
	for _, q := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s (%s)\t%d\n", q.Key, q.Containment, subject(q.Subject),
			q.Began.UTC().Format(time.RFC3339), q.Until.UTC().Format(time.RFC3339), until(q.Until, now), q.Denials)
	}
	return tw.Flush()
}

// subject spells whom a quarantine holds, field by field, each value
// quoted: a principal id is the token's, and can neither draw a line,
// send a terminal escape, nor pass for another field or column.
func subject(s map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s)) {
		parts = append(parts, approval.Visible(k)+"="+strconv.Quote(s[k]))
	}
	return strings.Join(parts, " ")
}

func liftQuarantine(ctx context.Context, env quarantineEnv, store state.Quarantines, key string) error {
	ok, err := store.LiftQuarantine(ctx, key)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no quarantine is kept under %s", approval.Visible(key))
	}
	fmt.Fprintf(env.stdout, "lifted: %s\n", approval.Visible(key))
	return nil
}

// quarantines returns the state table's quarantines, reached with the
// SDK's default configuration; AWS_ENDPOINT_URL_DYNAMODB, else
// AWS_ENDPOINT_URL, overrides the endpoint.
func (a *awsAccess) quarantines(ctx context.Context, table string) (state.Quarantines, error) {
	cfg, endpoint, err := a.service(ctx, "DYNAMODB")
	if err != nil {
		return nil, err
	}
	return state.NewDynamoDB(awsenv.NewDynamoDB(cfg.Region, endpoint, cfg.Credentials, http.DefaultClient), table), nil
}
