// Package trace is the interceptor's tracing seam: the handler opens spans
// through the Tracer interface and never sees the tracing SDK behind it, so
// the X-Ray implementation (package xraytrace) can be replaced, for example
// by an OpenTelemetry exporter, without touching a caller.
package trace

import (
	"context"
	"os"
	"strings"
)

// Tracer opens spans. Implementations must be safe for concurrent use and
// must never fail a call: tracing is best effort.
type Tracer interface {
	// Start opens a span named name as a child of the span in ctx, if any,
	// and returns a context carrying it.
	Start(ctx context.Context, name string) (context.Context, Span)
}

// Span is one timed step. Annotations are indexed key/value pairs that a
// trace search can filter on; End may be called once.
type Span interface {
	Annotate(key, value string)
	End()
}

// Nop is a Tracer that records nothing.
type Nop struct{}

// Start returns ctx and a span that does nothing.
func (Nop) Start(ctx context.Context, _ string) (context.Context, Span) { return ctx, nopSpan{} }

type nopSpan struct{}

func (nopSpan) Annotate(string, string) {}
func (nopSpan) End()                    {}

// HeaderKey is the context key under which the Lambda runtime client
// (aws-lambda-go) stores the invocation's X-Ray trace header.
const HeaderKey = "x-amzn-trace-id"

// Header returns the invocation's trace header ("Root=1-…;Parent=…;Sampled=1"):
// from ctx, where aws-lambda-go puts it for every invocation, else from
// _X_AMZN_TRACE_ID, which it sets only when one invocation runs at a time.
func Header(ctx context.Context) string {
	if h, ok := ctx.Value(HeaderKey).(string); ok && h != "" {
		return h
	}
	return os.Getenv("_X_AMZN_TRACE_ID")
}

// ID returns the trace id (the header's Root, "1-5759e988-bd862e3fe1be46a994272793"),
// the id by which X-Ray and CloudWatch find a trace; "" when there is none.
func ID(ctx context.Context) string {
	for part := range strings.SplitSeq(Header(ctx), ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "Root="); ok {
			return v
		}
	}
	return ""
}
