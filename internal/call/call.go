// Package call reads what an interceptor event asks: the client's JSON-RPC
// request, held to the limits, and what the attribute document needs of its
// params. Both points read a request through Read, once, the same way; the
// RESPONSE point reads the target's answer besides.
package call

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/toolgate/toolgate/internal/attributes"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/strictjson"
	"github.com/toolgate/toolgate/pkg/gateway"
)

// Limits bound what the handler reads. Anything beyond them is denied before
// a policy runs.
type Limits struct {
	// MaxEventBytes is the largest event.
	MaxEventBytes int
	// MaxDepth is the deepest nesting of objects and arrays in a JSON-RPC
	// message, request or response; the message itself is depth 1, so a
	// tool call's arguments may nest MaxDepth-3 deep.
	MaxDepth int
	// MaxArgumentBytes is the largest tools/call params (the arguments and
	// the tool's name), as sent.
	MaxArgumentBytes int
	// MaxValues is the most JSON values in a JSON-RPC message, request or
	// response: what a message costs in memory once decoded.
	MaxValues int
}

// DefaultLimits returns limits that admit every event a gateway can send (Lambda caps a
// synchronous invocation's payload at 6 MB) as long as it decodes within a
// 128 MB function: 6 MB of strings does, 6 MB of tiny objects does not, so
// values are bounded too. No real tool's arguments nest anywhere near 64
// deep.
func DefaultLimits() Limits {
	return Limits{MaxEventBytes: 6 << 20, MaxDepth: 64, MaxArgumentBytes: 6 << 20, MaxValues: 100_000}
}

// OrDefaults returns l with each zero field DefaultLimits' value.
func (l Limits) OrDefaults() Limits {
	def := DefaultLimits()
	l.MaxEventBytes = cmp.Or(l.MaxEventBytes, def.MaxEventBytes)
	l.MaxDepth = cmp.Or(l.MaxDepth, def.MaxDepth)
	l.MaxArgumentBytes = cmp.Or(l.MaxArgumentBytes, def.MaxArgumentBytes)
	l.MaxValues = cmp.Or(l.MaxValues, def.MaxValues)
	return l
}

// JSON returns the options that hold a message to the limits.
func (l Limits) JSON() strictjson.Options {
	return strictjson.Options{MaxDepth: l.MaxDepth, MaxValues: l.MaxValues}
}

// ErrTooLarge is the error of an event or params over its limit.
var ErrTooLarge = errors.New("too large")

// Request is a client's request, read once.
type Request struct {
	// Body is the JSON-RPC message as the gateway parsed it, judged and,
	// when allowed, forwarded byte for byte.
	Body    json.RawMessage
	Message mcp.Message
	// Tool is a tools/call's tool and arguments.
	Tool mcp.ToolCall
	// Input is what the attribute document is built from; the RESPONSE
	// point adds the target's answer to it.
	Input attributes.Input
}

// Error is a request that could not be read: What went wrong, said to the
// caller with Err's text.
type Error struct {
	What string
	Err  error
	// Params is true when the message was read and its params were not
	// (JSON-RPC's invalid params, where the others are invalid requests).
	Params bool
	// Message is the message, when it could be read.
	Message *mcp.Message
}

func (e *Error) Error() string { return e.What + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// Read reads the client's request of ev, for the attribute document of
// point at now. The gateway's parse of the body is authoritative, not the
// raw body: it is what the gateway forwards to the tool unless the
// interceptor answers otherwise, and an allowed request is answered with
// exactly the bytes judged here. Bytes that parsers could read differently
// are refused (see strictjson), and so is a request whose headers disagree
// with its body (mcp.CheckHeaders).
func Read(ev *gateway.MCPEvent, point string, limits Limits, now time.Time) (Request, *Error) {
	var r Request
	body, err := ev.RequestBody()
	if err != nil {
		return r, &Error{What: "no JSON-RPC request body", Err: err}
	}
	// Numbers are checked for exactness with the rest, in the same pass:
	// a tools/call's params need them exact (see toolCall), and when the
	// whole body passes, its params need no second pass. Only a body with
	// an inexact number somewhere is checked again without, to find
	// whether anything else is wrong with it.
	opts := limits.JSON()
	opts.ExactNumbers = true
	exact := strictjson.Check(body, opts) == nil
	if !exact {
		if err := strictjson.Check(body, limits.JSON()); err != nil {
			return r, &Error{What: "ambiguous or oversized JSON-RPC request", Err: err}
		}
	}
	msg, err := mcp.Parse(body)
	if err != nil {
		return r, &Error{What: "invalid JSON-RPC request", Err: err}
	}
	r.Body, r.Message = body, msg
	r.Input = attributes.Input{
		Phase:  point,
		Method: msg.Method,
		Kind:   msg.Kind(),
		ID:     msg.IDValue(),
		Now:    now,
	}
	if ev.GatewayRequest != nil {
		r.Input.Headers = ev.GatewayRequest.Headers
	}
	if what, err := r.params(limits, exact); err != nil {
		return r, &Error{What: what, Err: err, Params: true, Message: &r.Message}
	}
	if err := mcp.CheckHeaders(r.Input.Headers, msg, r.Tool.Name); err != nil {
		return r, &Error{What: "ambiguous request", Err: err, Message: &r.Message}
	}
	return r, nil
}

// params reads what the document needs of a message's params into Input:
// a tools/call's tool and arguments (and Tool), a prompts/get's prompt and
// arguments, a resources/read's (or subscribe's, unsubscribe's) URI, the
// prompt or URI a completion/complete completes, a tasks/* request's task
// id. It returns what failed and why. exact says that every number of the
// message is exact.
func (r *Request) params(limits Limits, exact bool) (string, error) {
	msg, in := &r.Message, &r.Input
	var err error
	switch msg.Method {
	case mcp.MethodToolsCall:
		if r.Tool, err = toolCall(msg, limits, exact); err != nil {
			return "invalid tools/call params", err
		}
		in.QualifiedTool, in.Arguments, in.Inputs = r.Tool.Name, r.Tool.Arguments, r.Tool.InputResponses
	case mcp.MethodPromptsGet:
		g, err := mcp.ParsePromptGet(msg.Params)
		if err != nil {
			return "invalid prompts/get params", err
		}
		in.Prompt, in.PromptArgs = g.Name, g.Arguments
	case mcp.MethodResourcesRead, mcp.MethodResourcesSubscribe, mcp.MethodResourcesUnsubscribe:
		if in.ResourceURI, err = mcp.ParseResourceURI(msg.Params); err != nil {
			return "invalid " + msg.Method + " params", err
		}
	case mcp.MethodCompletionComplete:
		// Completing a prompt's or a template's arguments reads from it:
		// it is judged as a get of the prompt, or a read of the resource.
		if in.Prompt, in.ResourceURI, err = mcp.ParseCompletionRef(msg.Params); err != nil {
			return "invalid completion/complete params", err
		}
	case mcp.MethodTasksGet, mcp.MethodTasksResult, mcp.MethodTasksCancel:
		if in.Task, err = mcp.ParseTaskID(msg.Params); err != nil {
			return "invalid " + msg.Method + " params", err
		}
	case mcp.MethodTasksUpdate:
		if in.Task, in.Inputs, err = mcp.ParseTaskUpdate(msg.Params); err != nil {
			return "invalid " + msg.Method + " params", err
		}
	case mcp.MethodSubscriptionsListen:
		if err = mcp.ListensToTasks(msg.Params); err != nil {
			return "invalid " + msg.Method + " params", err
		}
	}
	return "", nil
}

// toolCall reads the params of a tools/call within the argument limit. Its
// numbers must mean the same to every parser, since policies judge them; the
// id's need not, as it is only echoed byte for byte. exact says that the
// whole message's numbers are known to be exact already.
func toolCall(msg *mcp.Message, limits Limits, exact bool) (mcp.ToolCall, error) {
	if !exact {
		if err := strictjson.Check(msg.Params, strictjson.Options{ExactNumbers: true}); err != nil {
			return mcp.ToolCall{}, err
		}
	}
	// The params, not the arguments alone, are measured: they are the
	// arguments and the tool's name, and need no second decoding pass.
	if n := len(msg.Params); n > limits.MaxArgumentBytes {
		return mcp.ToolCall{}, fmt.Errorf("arguments %w: params of %d bytes, limit %d", ErrTooLarge, n, limits.MaxArgumentBytes)
	}
	return mcp.ParseToolCall(msg.Params)
}
