package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/moto"
	"github.com/toolgate/toolgate/internal/state"
)

// TestQuarantineCommand: an operator with a profile lists the quarantines
// in force in moto's state table (a principal id that would draw its own
// line shown escaped), lifts one by its key, and is told when a key holds
// none; the interceptor's side wrote them with its own client.
func TestQuarantineCommand(t *testing.T) {
	srv := moto.Start(t)
	table := srv.CreateTable(t, "toolgate-state")
	store, err := state.FromEnv(srv.Env(nil), table, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	ctx := context.Background()
	for _, q := range []state.Quarantine{
		{Key: "q#refused#aa", Containment: "refused", Subject: map[string]string{"principal.id": "u-sam\nFAKE LINE"}, Began: now, Until: now.Add(time.Hour), Denials: 20, Counter: "ct#refused#aa#1"},
		{Key: "q#refused#bb", Containment: "refused", Subject: map[string]string{"principal.id": "u-old"}, Began: now.Add(-2 * time.Hour), Until: now.Add(-time.Hour), Denials: 20},
	} {
		if ok, err := store.BeginQuarantine(ctx, q, q.Began); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	withProfile(t, srv)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", srv.Endpoint)
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		a := newAWS(os.Getenv)
		code := quarantine(args, quarantineEnv{getenv: a.getenv, stdout: &out, stderr: &errOut, store: a.quarantines, now: func() time.Time { return now }})
		return code, out.String(), errOut.String()
	}
	code, out, errOut := run("list", "-table", table)
	if code != 0 || !strings.Contains(out, `q#refused#aa  refused      principal.id="u-sam\nFAKE LINE"`) || !strings.Contains(out, "(in 1h0m0s)  20") ||
		strings.Contains(out, "u-old") || strings.Count(out, "\n") != 2 {
		t.Fatalf("list: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv("STATE_TABLE", table)
	code, out, _ = run("list", "-json")
	var list []quarantineJSON
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 1 || list[0].Key != "q#refused#aa" || list[0].Denials != 20 {
		t.Fatalf("list -json: exit %d %v\n%s", code, err, out)
	}
	if code, out, errOut := run("lift", "q#refused#aa"); code != 0 || out != "lifted: q#refused#aa\n" {
		t.Fatalf("lift: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := run("list"); code != 0 || out != "no quarantine in force\n" {
		t.Fatalf("list after the lift: exit %d\n%s", code, out)
	}
	if code, _, errOut := run("lift", "q#refused#aa"); code != 1 || !strings.Contains(errOut, "no quarantine is kept under q#refused#aa") {
		t.Fatalf("lift again: exit %d\n%s", code, errOut)
	}
	if code, _, errOut := run("lift", "rl#x"); code != 1 || !strings.Contains(errOut, `"rl#x" is not a quarantine's key`) {
		t.Fatalf("lift of a count: exit %d\n%s", code, errOut)
	}
	t.Setenv("STATE_TABLE", "")
	if code, _, errOut := run("list"); code != 2 || !strings.Contains(errOut, "no state table") {
		t.Fatalf("no table: exit %d\n%s", code, errOut)
	}
	if code, _, _ := run("purge"); code != 2 {
		t.Fatalf("unknown verb: exit %d", code)
	}
}
