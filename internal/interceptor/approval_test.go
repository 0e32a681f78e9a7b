package interceptor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/approval"
	"github.com/toolgate/toolgate/internal/decision"
	"github.com/toolgate/toolgate/internal/interceptor"
	"github.com/toolgate/toolgate/internal/judge"
	"github.com/toolgate/toolgate/internal/moto"
	"github.com/toolgate/toolgate/internal/policytest"
)

// approvalEvent is a REQUEST event of tool with args (and extra params
// members) by a platform admin (sub u-root), in production: the default
// bundle asks approvals of refunds and of Slack posts.
func approvalEvent(t testing.TB, tool, args string, headers map[string]string, extra string) []byte {
	t.Helper()
	tok, err := policytest.UnsignedToken(map[string]any{"sub": "u-root", "username": "root", "cognito:groups": []string{"platform-admins"}})
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{"Authorization": "Bearer " + tok}
	for k, v := range headers {
		h[k] = v
	}
	hb, _ := json.Marshal(h)
	return []byte(`{"interceptorInputVersion":"1.0","mcp":{"gatewayRequest":{"headers":` + string(hb) +
		`,"body":{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"` + tool + `","arguments":` + args + extra + `}}}}}`)
}

type answer struct {
	Result struct {
		ResultType    string `json:"resultType"`
		InputRequests map[string]struct {
			Method string `json:"method"`
			Params struct {
				Mode, Message, URL string
			} `json:"params"`
		} `json:"inputRequests"`
		RequestState string `json:"requestState"`
		IsError      bool   `json:"isError"`
		Content      []struct{ Text string }
	} `json:"result"`
	Error *struct {
		Code int `json:"code"`
		Data struct {
			Elicitations []struct{ Mode, URL, ElicitationID string } `json:"elicitations"`
		} `json:"data"`
	} `json:"error"`
}

func answerOf(t *testing.T, r judge.Result) answer {
	t.Helper()
	var a answer
	if r.Output.MCP == nil || r.Output.MCP.TransformedGatewayResponse == nil {
		t.Fatalf("no answer to the caller: %+v", r.Output)
	}
	if err := json.Unmarshal(r.Output.MCP.TransformedGatewayResponse.Body, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

const refundArgs = `{"payment":"p-1","amount":10}`

// approvals turns approvals on in c with store: in-process keys, and the
// decision path's, which decides as the approvals function would.
func approvals(c *interceptor.Config, store approval.Store) *decisionPath {
	p := &decisionPath{store: store, signer: approval.NewLocalKey(), keys: approval.RandomKey()}
	c.Approvals, c.ApprovalKeys, c.GrantKey = store, p.keys, p.signer
	return p
}

// decisionPath decides approvals as the approvals function does.
type decisionPath struct {
	store  approval.Store
	signer *approval.LocalKey
	keys   approval.Keys
}

// decide decides approval id as by, of groups.
func (p *decisionPath) decide(id string, approve bool, by string, groups ...string) (approval.Approval, error) {
	// The comment carries a right-to-left override, which the record
	// shows escaped, and a password, which it does not show.
	return approval.Decide(context.Background(), p.store, p.signer, p.keys, id, approval.Decision{Approve: approve, By: by, Groups: groups, Comment: "CHG-7 \u202eok password=hunter2hunter2"}, time.Now())
}

// TestOutOfBandApproval: against moto's DynamoDB, each client version is
// asked in its own terms; the call passes only after another platform
// admin approves, once, and only with the same arguments.
func TestOutOfBandApproval(t *testing.T) {
	srv := moto.Start(t)
	store, err := approval.FromEnv(srv.Env(nil), srv.CreateTable(t, "approvals"), http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ids := 0
	var logs bytes.Buffer
	var path *decisionPath
	h := handlerWith(t, func(c *interceptor.Config) {
		path = approvals(c, store)
		c.ApprovalURL, c.Now = "https://approve.example.com/a/{id}", func() time.Time { return now }
		c.NewID = func() string { ids++; return strings.Repeat("0", 31) + string(rune('a'+ids%6)) }
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	ctx := context.Background()
	for _, v := range []struct{ version, want string }{
		{"2026-07-28", "mrtr"}, {"2025-11-25", "-32042"}, {"2025-06-18", "text"}, {"2025-03-26", "text"}, {"", "text"},
	} {
		t.Run(cmpOr(v.version, "no version"), func(t *testing.T) {
			args := `{"payment":"p-` + v.version + `","amount":10}`
			hdr := map[string]string{"MCP-Protocol-Version": v.version}
			r := h.Handle(ctx, approvalEvent(t, "billing___refund_payment", args, hdr, ""))
			if r.Decision.Effect != decision.Approval || r.Decision.Approval.Status != decision.ApprovalRequested {
				t.Fatalf("first call: %+v", r.Decision)
			}
			id := r.Decision.Approval.ID
			a := answerOf(t, r)
			switch v.want {
			case "mrtr":
				ir := a.Result.InputRequests[decision.InputRequestID]
				if a.Result.ResultType != "input_required" || ir.Method != "elicitation/create" || ir.Params.Mode != "url" || ir.Params.URL != "https://approve.example.com/a/"+id {
					t.Fatalf("2026-07-28 answer: %+v", a)
				}
			case "-32042":
				if a.Error == nil || a.Error.Code != -32042 || len(a.Error.Data.Elicitations) != 1 || a.Error.Data.Elicitations[0].ElicitationID != id {
					t.Fatalf("2025-11-25 answer: %+v", a)
				}
			case "text":
				if !a.Result.IsError || !strings.Contains(a.Result.Content[0].Text, "Approval requested: id "+id) || !strings.Contains(a.Result.Content[0].Text, "Retry the same call") {
					t.Fatalf("older client's answer: %+v", a)
				}
			}
			// Still pending: asked again, same approval.
			if again := h.Handle(ctx, approvalEvent(t, "billing___refund_payment", args, hdr, "")); again.Decision.Approval.ID != id || again.Decision.Approval.Status != decision.ApprovalPending {
				t.Fatalf("retry while pending: %+v", again.Decision)
			}
			if _, err := path.decide(id, true, "u-root", "platform-admins"); err == nil {
				t.Fatal("the requester approved their own call")
			}
			if _, err := path.decide(id, true, "u-ops", "platform-admins"); err != nil {
				t.Fatal(err)
			}
			// Other arguments: the grant does not apply.
			other := h.Handle(ctx, approvalEvent(t, "billing___refund_payment", `{"payment":"p-`+v.version+`","amount":10000}`, hdr, ""))
			if other.Decision.Effect != decision.Approval || other.Decision.Approval.ID == id {
				t.Fatalf("a grant applied to other arguments: %+v", other.Decision)
			}
			ok := h.Handle(ctx, approvalEvent(t, "billing___refund_payment", args, hdr, ""))
			if ok.Decision.Effect != decision.Allow || ok.Output.MCP.TransformedGatewayRequest == nil || ok.Decision.Approval.By != "u-ops" {
				t.Fatalf("approved call: %+v", ok.Decision)
			}
			if twice := h.Handle(ctx, approvalEvent(t, "billing___refund_payment", args, hdr, "")); twice.Decision.Effect != decision.Approval {
				t.Fatalf("a grant was used twice: %+v", twice.Decision)
			}
		})
	}
	if !strings.Contains(logs.String(), `"approved":{"by":"u-ops"`) || !strings.Contains(logs.String(), `"approval_required":true`) {
		t.Errorf("decision records lack the approval:\n%s", logs.String())
	}
	// The approver's comment, from the signed grant, escaped.
	if !strings.Contains(logs.String(), `"channel":"out-of-band","comment":"CHG-7 \\u202eok password=[REDACTED:secret-field]"}`) ||
		strings.Contains(logs.String(), "\u202e") || strings.Contains(logs.String(), "hunter2hunter2") {
		t.Errorf("decision records lack the approver's comment, escaped:\n%s", logs.String())
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestRejectedApproval: a rejection denies the retries, saying who.
func TestRejectedApproval(t *testing.T) {
	store := &approval.Memory{}
	var path *decisionPath
	h := handlerWith(t, func(c *interceptor.Config) { path = approvals(c, store) })
	r := h.Handle(context.Background(), approvalEvent(t, "billing___refund_payment", refundArgs, nil, ""))
	if _, err := path.decide(r.Decision.Approval.ID, false, "u-ops", "platform-admins"); err != nil {
		t.Fatal(err)
	}
	d := h.Handle(context.Background(), approvalEvent(t, "billing___refund_payment", refundArgs, nil, "")).Decision
	if d.Effect != decision.Deny || !strings.Contains(d.Reason, "rejected by u-ops") {
		t.Fatalf("after a rejection: %+v", d)
	}
}

// TestDeclinedApprovalPage: a 2026-07-28 user who declines or cancels the
// approval page is answered with a denial (not asked again, which would
// loop the client); the request stays pending for approvers.
func TestDeclinedApprovalPage(t *testing.T) {
	store := &approval.Memory{}
	h := handlerWith(t, func(c *interceptor.Config) { approvals(c, store); c.ApprovalURL = "https://approve.example.com/a/{id}" })
	hdr := map[string]string{"MCP-Protocol-Version": "2026-07-28"}
	first := h.Handle(context.Background(), approvalEvent(t, "billing___refund_payment", refundArgs, hdr, ""))
	id := first.Decision.Approval.ID
	for _, action := range []string{"decline", "cancel"} {
		retry := `,"inputResponses":{"` + decision.InputRequestID + `":{"action":"` + action + `"}}`
		d := h.Handle(context.Background(), approvalEvent(t, "billing___refund_payment", refundArgs, hdr, retry)).Decision
		if d.Effect != decision.Deny || !strings.Contains(d.Reason, "approval "+id+" is pending, and the caller declined to wait") {
			t.Fatalf("%s: %+v", action, d)
		}
	}
	accepted := `,"inputResponses":{"` + decision.InputRequestID + `":{"action":"accept"}}`
	if d := h.Handle(context.Background(), approvalEvent(t, "billing___refund_payment", refundArgs, hdr, accepted)).Decision; d.Effect != decision.Approval || d.Approval.ID != id {
		t.Fatalf("accepted while pending: %+v, want asked again", d)
	}
	if a, err := store.Get(context.Background(), id); err != nil || a.Status != approval.Pending {
		t.Fatalf("%+v %v, want still pending", a, err)
	}
}

// TestApprovalStoreDown: an approval table that does not answer, or
// answers too slowly, denies with an error record; nothing is approved.
func TestApprovalStoreDown(t *testing.T) {
	srv := moto.Start(t)
	table := srv.CreateTable(t, "approvals")
	proxy := srv.Proxy(t)
	store, err := approval.FromEnv(srv.Env(map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": proxy.Endpoint}), table, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []moto.Mode{moto.Refuse, moto.Stall} {
		proxy.SetMode(mode)
		var logs bytes.Buffer
		h := handlerWith(t, func(c *interceptor.Config) {
			approvals(c, store)
			c.StateTimeout = 200 * time.Millisecond
			c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		})
		r := h.Handle(context.Background(), approvalEvent(t, "billing___refund_payment", refundArgs, nil, ""))
		if r.Decision.Effect != decision.Deny || r.Decision.Code != decision.CodeUndecidable || !strings.Contains(r.Decision.Reason, "approval table did not answer") {
			t.Errorf("mode %d: %+v", mode, r.Decision)
		}
		if !strings.Contains(logs.String(), `"level":"ERROR"`) {
			t.Errorf("mode %d: no ERROR record: %s", mode, logs.String())
		}
	}
	proxy.SetMode(moto.Pass)
}

// TestInBandConfirmation: a 2026-07-28 client confirms its own call in a
// form; the retry is verified, used once and forwarded without our state.
func TestInBandConfirmation(t *testing.T) {
	now := time.Now()
	h := handlerWith(t, func(c *interceptor.Config) {
		approvals(c, &approval.Memory{})
		c.Now = func() time.Time { return now }
	})
	ctx := context.Background()
	args := `{"channel":"general","text":"hello alice@example.com"}`
	hdr := map[string]string{"Mcp-Protocol-Version": "2026-07-28"}
	// The call answers the target's own question (its input request
	// "other"): that answer reaches the tool, so it is shown and bound.
	first := h.Handle(ctx, approvalEvent(t, "slack___post_message", args, hdr, `,"inputResponses":{"other":{"action":"accept"}}`))
	a := answerOf(t, first)
	ir := a.Result.InputRequests[decision.InputRequestID]
	if first.Decision.Effect != decision.Approval || ir.Params.Mode != "form" || !approval.IsState(a.Result.RequestState) {
		t.Fatalf("first call: %+v %+v", first.Decision, a)
	}
	if !strings.Contains(ir.Params.Message, `text: "hello alice@example.com"`) || !strings.Contains(ir.Params.Message, `channel: "general"`) ||
		!strings.Contains(ir.Params.Message, `@inputResponses.other.action: "accept"`) || !strings.Contains(ir.Params.Message, "slack___post_message") {
		t.Errorf("the form does not show the tool and every argument whole: %q", ir.Params.Message)
	}
	retry := func(state, action string, args string, h2 map[string]string) judge.Result {
		other := "accept"
		if action == "accept-other" {
			action, other = "accept", "decline"
		}
		ext := `,"inputResponses":{"` + decision.InputRequestID + `":{"action":"` + action + `","content":{"approve":true}},"other":{"action":"` + other + `"}},"requestState":` + strconvQuote(state)
		return h.Handle(ctx, approvalEvent(t, "slack___post_message", args, cmpMap(h2, hdr), ext))
	}
	tampered := a.Result.RequestState[:len(a.Result.RequestState)-3] + "AAA"
	for name, tt := range map[string]struct {
		state, action, args string
		headers             map[string]string
		reason              string
	}{
		"declined":                     {a.Result.RequestState, "decline", args, nil, "declined"},
		"other arguments":              {a.Result.RequestState, "accept", `{"channel":"general","text":"rm -rf"}`, nil, "another call"},
		"another answer to the target": {a.Result.RequestState, "accept-other", args, nil, "another call"},
		"tampered":                     {tampered, "accept", args, nil, "does not verify"},
	} {
		t.Run(name, func(t *testing.T) {
			d := retry(tt.state, tt.action, tt.args, tt.headers).Decision
			if d.Effect != decision.Deny || !strings.Contains(d.Reason, tt.reason) {
				t.Fatalf("%+v", d)
			}
		})
	}
	ok := retry(a.Result.RequestState, "accept", args, nil)
	if ok.Decision.Effect != decision.Allow || ok.Decision.Approval.Channel != decision.InBand {
		t.Fatalf("confirmed call: %+v", ok.Decision)
	}
	fwd := string(ok.Output.MCP.TransformedGatewayRequest.Body)
	if strings.Contains(fwd, "requestState") || strings.Contains(fwd, decision.InputRequestID) || !strings.Contains(fwd, `"other"`) {
		t.Errorf("forwarded body keeps our state, or lost the target's: %s", fwd)
	}
	if d := retry(a.Result.RequestState, "accept", args, nil).Decision; d.Effect != decision.Deny || !strings.Contains(d.Reason, "used already") {
		t.Fatalf("replayed: %+v", d)
	}
	now = now.Add(6 * time.Minute)
	if d := retry(a.Result.RequestState, "accept", args, nil).Decision; d.Effect != decision.Deny || !strings.Contains(d.Reason, "expired") {
		t.Fatalf("expired: %+v", d)
	}
	// Another caller's retry with the state: another binding.
	other := h.Handle(ctx, []byte(strings.Replace(string(approvalEvent(t, "slack___post_message", args, hdr, "")), "Bearer ", "Bearer x", 1)))
	if other.Decision.Effect == decision.Allow {
		t.Fatalf("another caller: %+v", other.Decision)
	}
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

func cmpMap(a, b map[string]string) map[string]string {
	if a != nil {
		return a
	}
	return b
}

// TestNoApprovalConfigured: a call that needs an approval nobody can give
// is denied, and says why.
func TestNoApprovalConfigured(t *testing.T) {
	h := handlerWith(t, func(*interceptor.Config) {})
	d := h.Handle(context.Background(), approvalEvent(t, "billing___refund_payment", refundArgs, nil, "")).Decision
	if d.Effect != decision.Deny || !strings.Contains(d.Reason, "APPROVAL_TABLE") {
		t.Fatalf("%+v", d)
	}
}

// BenchmarkApprovalConfirmedRetry is the whole REQUEST point for the retry
// of an in-band confirmation (verify, nonce, second evaluation, strip),
// with nonces in process: the grant check's cost without the network.
// Compare BenchmarkHandler2KB for a call that needs no approval.
func BenchmarkApprovalConfirmedRetry(b *testing.B) {
	h := handlerWith(b, func(c *interceptor.Config) { approvals(c, &approval.Memory{}) })
	ctx := context.Background()
	hdr := map[string]string{"Mcp-Protocol-Version": "2026-07-28"}
	args := `{"channel":"general","text":"hello"}`
	first := h.Handle(ctx, approvalEvent(b, "slack___post_message", args, hdr, ""))
	var a answer
	if err := json.Unmarshal(first.Output.MCP.TransformedGatewayResponse.Body, &a); err != nil || a.Result.RequestState == "" {
		b.Fatalf("no confirmation asked: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		first := h.Handle(ctx, approvalEvent(b, "slack___post_message", args, hdr, ""))
		json.Unmarshal(first.Output.MCP.TransformedGatewayResponse.Body, &a)
		ev := approvalEvent(b, "slack___post_message", args, hdr, `,"inputResponses":{"`+decision.InputRequestID+`":{"action":"accept"}},"requestState":`+strconvQuote(a.Result.RequestState))
		b.StartTimer()
		if r := h.Handle(ctx, ev); r.Decision.Effect != decision.Allow {
			b.Fatalf("%+v", r.Decision)
		}
	}
}

// BenchmarkApprovalGrantedRetry is the REQUEST point of a retry that finds
// an approver's grant (out of band), with the store in process: the
// mechanism's cost (consume, verify the grant's ECDSA signature, second
// evaluation, the forwarded mark, forwarding). A DynamoDB table adds its
// three round trips (a consistent GetItem and two conditional UpdateItems).
func BenchmarkApprovalGrantedRetry(b *testing.B) {
	store := &approval.Memory{}
	var path *decisionPath
	h := handlerWith(b, func(c *interceptor.Config) {
		path = approvals(c, store)
		// Every iteration is a new request of one requester.
		c.ApprovalLimits = approval.Limits{MaxPending: 1 << 30, MaxRequests: 1 << 30, Window: time.Hour}
	})
	ctx := context.Background()
	ev := approvalEvent(b, "billing___refund_payment", `{"payment":"p-1","amount":10}`, nil, "")
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		first := h.Handle(ctx, ev)
		if first.Decision.Approval == nil {
			b.Fatalf("no approval asked: %+v", first.Decision)
		}
		if _, err := path.decide(first.Decision.Approval.ID, true, "u-ops", "platform-admins"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if r := h.Handle(ctx, ev); r.Decision.Effect != decision.Allow {
			b.Fatalf("%+v", r.Decision)
		}
	}
}

// atResponse turns a REQUEST event into the RESPONSE event of the same
// call whose target (or REQUEST short-circuit) answered body.
func atResponse(t testing.TB, request []byte, body []byte) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(request, &ev); err != nil {
		t.Fatal(err)
	}
	ev["mcp"].(map[string]any)["gatewayResponse"] = map[string]any{"statusCode": 200, "body": json.RawMessage(body)}
	out, _ := json.Marshal(ev)
	return out
}

const toolRan = `{"jsonrpc":"2.0","id":9,"result":{"content":[{"type":"text","text":"REFUND-RAN"}]}}`

// TestForgedGrant: whoever can write the approval table, but not use the
// decision path's key, grants nothing: an approved row without a grant,
// with an edited grant, or with another call's grant is denied, with an
// error record that says the grant was not signed.
func TestForgedGrant(t *testing.T) {
	ctx := context.Background()
	// grantOf returns the grant the decision path's signer gives to a
	// request like a's for binding.
	grantOf := func(path *decisionPath, signer approval.Signer, a approval.Approval, binding string) *approval.Grant {
		st := &approval.Memory{}
		req, _ := approval.Prove(ctx, path.keys, approval.Approval{ID: a.ID, Binding: binding, Status: approval.Pending, Requester: a.Requester,
			Requirement: a.Requirement, Created: time.Now(), Expires: time.Now().Add(time.Minute)})
		if _, _, err := st.Request(ctx, req, time.Now(), approval.DefaultLimits()); err != nil {
			t.Fatal(err)
		}
		b, err := approval.Decide(ctx, st, signer, path.keys, a.ID, approval.Decision{Approve: true, By: "u-ops", Groups: []string{"platform-admins"}}, time.Now())
		if err != nil || b.Grant == nil {
			t.Fatalf("grant: %v", err)
		}
		return b.Grant
	}
	for name, forge := range map[string]func(a *approval.Approval, path *decisionPath){
		"no grant": func(a *approval.Approval, _ *decisionPath) {},
		"a grant signed by another key": func(a *approval.Approval, path *decisionPath) {
			a.Grant = grantOf(path, approval.NewLocalKey(), *a, a.Binding)
		},
		"another call's grant": func(a *approval.Approval, path *decisionPath) {
			a.Grant = grantOf(path, path.signer, *a, "another call")
		},
	} {
		t.Run(name, func(t *testing.T) {
			store := &approval.Memory{}
			var logs bytes.Buffer
			var path *decisionPath
			h := handlerWith(t, func(c *interceptor.Config) {
				path = approvals(c, store)
				c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			})
			ev := approvalEvent(t, "billing___refund_payment", refundArgs, nil, "")
			first := h.Handle(ctx, ev)
			a, err := store.Get(ctx, first.Decision.Approval.ID)
			if err != nil {
				t.Fatal(err)
			}
			// The table write: approved by an admin, as a row says.
			a.Status, a.DecidedBy, a.DeciderGroups, a.DecidedAt, a.Expires = approval.Approved, "u-ops", []string{"platform-admins"}, time.Now(), time.Now().Add(10*time.Minute)
			forge(&a, path)
			if err := store.Settle(ctx, a, time.Now()); err != nil {
				t.Fatal(err)
			}
			r := h.Handle(ctx, ev)
			if r.Decision.Effect != decision.Deny || !strings.Contains(r.Decision.Reason, "grants nothing") || r.Output.MCP.TransformedGatewayRequest != nil {
				t.Fatalf("retry on a forged row: %+v", r.Decision)
			}
			if !strings.Contains(logs.String(), `"level":"ERROR"`) {
				t.Errorf("no ERROR record for a forged grant:\n%s", logs.String())
			}
		})
	}
}

// TestResponseNeverWidens: the RESPONSE point passes, for a call that
// needs an approval, exactly the REQUEST point's own answer (sealed) or
// the result of a call it granted, once; a result it did not grant, a
// second result of one grant and an answer imitating ours are denied.
func TestResponseNeverWidens(t *testing.T) {
	ctx := context.Background()
	store := &approval.Memory{}
	var path *decisionPath
	h := handlerWith(t, func(c *interceptor.Config) {
		path = approvals(c, store)
		c.ApprovalURL = "https://approve.example.com/a/{id}"
	})
	for _, version := range []string{"2026-07-28", "2025-11-25", "2025-06-18"} {
		t.Run(version, func(t *testing.T) {
			args := `{"payment":"p-` + version + `","amount":10}`
			ev := approvalEvent(t, "billing___refund_payment", args, map[string]string{"MCP-Protocol-Version": version}, "")
			// No grant: the tool's result is withheld.
			if r := h.Handle(ctx, atResponse(t, ev, []byte(toolRan))); r.Decision.Effect != decision.Deny || strings.Contains(string(r.Output.MCP.TransformedGatewayResponse.Body), "REFUND-RAN") {
				t.Fatalf("a result nobody granted: %+v", r.Decision)
			}
			// The REQUEST point's question passes, exactly.
			asked := h.Handle(ctx, ev)
			question := asked.Output.MCP.TransformedGatewayResponse.Body
			r := h.Handle(ctx, atResponse(t, ev, question))
			if r.Decision.Effect == decision.Allow || !r.Repeat || r.RepeatOf != asked.Decision.ID || string(r.Output.MCP.TransformedGatewayResponse.Body) != string(question) {
				t.Fatalf("the REQUEST point's question at RESPONSE: %+v\n%s", r.Decision, r.Output.MCP.TransformedGatewayResponse.Body)
			}
			// ... but not with a word changed, nor for another call.
			edited := []byte(strings.NewReplacer("Approval requested", "Approval REFUND-RAN", "approve.example.com", "evil.example").Replace(string(question)))
			if string(edited) == string(question) {
				t.Fatalf("nothing to edit in %s", question)
			}
			if r := h.Handle(ctx, atResponse(t, ev, edited)); r.Decision.Effect != decision.Deny || r.Repeat {
				t.Fatalf("an edited question: %+v", r.Decision)
			}
			other := approvalEvent(t, "billing___refund_payment", `{"payment":"p-other","amount":10}`, map[string]string{"MCP-Protocol-Version": version}, "")
			if r := h.Handle(ctx, atResponse(t, other, question)); r.Decision.Effect != decision.Deny || r.Repeat {
				t.Fatalf("another call's question: %+v", r.Decision)
			}
			// Granted and forwarded: one result passes, a second does not.
			if _, err := path.decide(asked.Decision.Approval.ID, true, "u-ops", "platform-admins"); err != nil {
				t.Fatal(err)
			}
			if ok := h.Handle(ctx, ev); ok.Decision.Effect != decision.Allow {
				t.Fatalf("granted retry: %+v", ok.Decision)
			}
			if r := h.Handle(ctx, atResponse(t, ev, []byte(toolRan))); r.Decision.Effect != decision.Allow || !strings.Contains(string(r.Output.MCP.TransformedGatewayResponse.Body), "REFUND-RAN") {
				t.Fatalf("the granted call's result: %+v", r.Decision)
			}
			if r := h.Handle(ctx, atResponse(t, ev, []byte(toolRan))); r.Decision.Effect != decision.Deny {
				t.Fatalf("a second result of one grant: %+v", r.Decision)
			}
		})
	}
}

// TestApprovalRequestLimits: a requester's sixth pending approval is
// refused, with the time to retry; asking again for a pending one is not a
// new request.
func TestApprovalRequestLimits(t *testing.T) {
	ctx := context.Background()
	h := handlerWith(t, func(c *interceptor.Config) { approvals(c, &approval.Memory{}) })
	for i := range 5 {
		for range 2 {
			r := h.Handle(ctx, approvalEvent(t, "billing___refund_payment", `{"payment":"p-`+strconv.Itoa(i)+`","amount":10}`, nil, ""))
			if r.Decision.Effect != decision.Approval {
				t.Fatalf("request %d: %+v", i, r.Decision)
			}
		}
	}
	r := h.Handle(ctx, approvalEvent(t, "billing___refund_payment", `{"payment":"p-5","amount":10}`, nil, ""))
	a := answerOf(t, r)
	if r.Decision.Effect != decision.Deny || r.Decision.Code != decision.CodeRateLimited || r.Decision.RetryAfter < 890 ||
		!strings.Contains(r.Decision.Reason, "5 approvals of yours are pending already") || !a.Result.IsError {
		t.Fatalf("sixth: %+v", r.Decision)
	}
}

// TestApprovalRecordsHoldNoArguments: the in-band form shows the caller
// every argument; the decision record of that question, and of its
// confirmation, holds none of them.
func TestApprovalRecordsHoldNoArguments(t *testing.T) {
	var logs bytes.Buffer
	h := handlerWith(t, func(c *interceptor.Config) {
		approvals(c, &approval.Memory{})
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	ctx := context.Background()
	hdr := map[string]string{"Mcp-Protocol-Version": "2026-07-28"}
	args := `{"channel":"general","text":"ARG-VALUE-42 for finance"}`
	first := h.Handle(ctx, approvalEvent(t, "slack___post_message", args, hdr, ""))
	a := answerOf(t, first)
	if !strings.Contains(a.Result.InputRequests[decision.InputRequestID].Params.Message, "ARG-VALUE-42") {
		t.Fatalf("the form does not show the argument: %+v", a)
	}
	ext := `,"inputResponses":{"` + decision.InputRequestID + `":{"action":"accept"}},"requestState":` + strconvQuote(a.Result.RequestState)
	if r := h.Handle(ctx, approvalEvent(t, "slack___post_message", args, hdr, ext)); r.Decision.Effect != decision.Allow {
		t.Fatalf("confirmed: %+v", r.Decision)
	}
	if strings.Contains(logs.String(), "ARG-VALUE-42") || !strings.Contains(logs.String(), "sends outside the organisation") {
		t.Errorf("a record holds an argument value, or not the policy's reason:\n%s", logs.String())
	}
}

// TestStreamedGrantedCall: a granted call whose target streams messages
// before its result (progress) passes them and one result; one whose
// target asks the client for input (an elicitation, a sampling request)
// is denied that request, and the result still passes.
func TestStreamedGrantedCall(t *testing.T) {
	ctx := context.Background()
	store := &approval.Memory{}
	var path *decisionPath
	h := handlerWith(t, func(c *interceptor.Config) { path = approvals(c, store) })
	ev := approvalEvent(t, "billing___refund_payment", refundArgs, nil, "")
	asked := h.Handle(ctx, ev)
	if _, err := path.decide(asked.Decision.Approval.ID, true, "u-ops", "platform-admins"); err != nil {
		t.Fatal(err)
	}
	if r := h.Handle(ctx, ev); r.Decision.Effect != decision.Allow {
		t.Fatalf("granted: %+v", r.Decision)
	}
	progress := `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p-1","progress":1}}`
	// Input the target asks for is what no approver saw: an IBAN, a
	// model's text. tasks/update is denied for the same reason.
	elicit := `{"jsonrpc":"2.0","id":"s-1","method":"elicitation/create","params":{"mode":"form","message":"which account?","requestedSchema":{"type":"object"}}}`
	sample := `{"jsonrpc":"2.0","id":"s-2","method":"sampling/createMessage","params":{"messages":[],"maxTokens":10}}`
	unnamed := `{"jsonrpc":"2.0","id":null,"method":"Elicitation/Create","params":{"mode":"form","message":"which account?","requestedSchema":{"type":"object"}}}`
	url := `{"jsonrpc":"2.0","id":9,"error":{"code":-32042,"message":"URL elicitation required","data":{"elicitations":[{"mode":"url","elicitationId":"x","url":"https://x.example/iban","message":"enter the IBAN"}]}}}`
	for i, step := range []struct {
		body string
		want decision.Effect
	}{{progress, decision.Allow}, {elicit, decision.Deny}, {sample, decision.Deny}, {unnamed, decision.Deny}, {url, decision.Deny},
		{progress, decision.Allow}, {toolRan, decision.Allow},
		{progress, decision.Deny}, {toolRan, decision.Deny}} {
		if r := h.Handle(ctx, atResponse(t, ev, []byte(step.body))); r.Decision.Effect != step.want {
			t.Fatalf("step %d: %+v, want %s", i, r.Decision, step.want)
		}
	}
}
