// Package xraytrace implements trace.Tracer with the AWS X-Ray SDK. It is
// the only package that imports the SDK, so that replacing X-Ray (its SDKs
// are in maintenance mode; AWS recommends OpenTelemetry) changes this
// package and main's wiring, and no caller.
//
// In Lambda, spans become subsegments of the function's facade segment,
// which the runtime creates from the invocation's trace header, and are sent
// to the X-Ray daemon address Lambda sets (AWS_XRAY_DAEMON_ADDRESS) over
// UDP. Without a sampled trace header nothing is recorded or sent; with no
// daemon listening, UDP sends fail silently: tracing never fails a call.
package xraytrace

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-xray-sdk-go/header"
	"github.com/aws/aws-xray-sdk-go/xray"
	"github.com/aws/aws-xray-sdk-go/xraylog"

	"github.com/toolgate/toolgate/internal/trace"
)

// Tracer records spans as X-Ray subsegments.
type Tracer struct{}

// New returns a Tracer. It routes the SDK's own log messages, which are
// process-wide, to logger: debug and info at debug level, warnings and
// errors at warn level (tracing is best effort, never an error of ours).
func New(logger *slog.Logger) trace.Tracer {
	xray.SetLogger(sdkLogger{logger})
	return Tracer{}
}

// Start opens a subsegment under the segment in ctx, or under the Lambda
// facade segment of the invocation's trace header. When there is neither,
// or the trace is not sampled, it returns a span that does nothing: the SDK
// would log an error for every span it cannot attach, and build unsampled
// ones for nothing.
func (Tracer) Start(ctx context.Context, name string) (context.Context, trace.Span) {
	if xray.GetSegment(ctx) == nil {
		h, _ := ctx.Value(xray.LambdaTraceHeaderKey).(string)
		if !sampled(h) {
			return trace.Nop{}.Start(ctx, name)
		}
	}
	ctx, seg := xray.BeginSubsegment(ctx, name)
	if seg == nil {
		return trace.Nop{}.Start(ctx, name)
	}
	return ctx, span{seg}
}

// sampled reports whether trace header h says its trace is sampled, as
// header.FromString reads it (of the parts separated by ";" and trimmed,
// the last that starts "Sampled=" decides) without building the header:
// every span of an unsampled invocation, most of them, asked it, at a map
// and a split each.
func sampled(h string) bool {
	yes := false
	for part := range strings.SplitSeq(h, ";") {
		if p := strings.TrimSpace(part); strings.HasPrefix(p, header.SampledPrefix) {
			yes = p == string(header.Sampled)
		}
	}
	return yes
}

type span struct{ seg *xray.Segment }

// Annotate adds an indexed annotation. X-Ray rejects keys other than
// letters, digits and underscores; a rejected annotation is dropped.
func (s span) Annotate(key, value string) {
	_ = s.seg.AddAnnotation(key, value)
}

// End closes the subsegment, which sends it when it is sampled.
func (s span) End() { s.seg.Close(nil) }

type sdkLogger struct{ l *slog.Logger }

func (s sdkLogger) Log(level xraylog.LogLevel, msg fmt.Stringer) {
	l := slog.LevelDebug
	if level >= xraylog.LogLevelWarn {
		l = slog.LevelWarn
	}
	if s.l.Enabled(context.Background(), l) {
		s.l.Log(context.Background(), l, "xray: "+msg.String())
	}
}
