// Package oteltrace implements trace.Tracer with OpenTelemetry, exporting
// spans over OTLP/HTTP: to the AWS Distro for OpenTelemetry collector that
// runs as a Lambda extension (the default endpoint, localhost:4318), or to
// any endpoint the standard OTEL_EXPORTER_OTLP_* variables name. It is the
// migration path from the X-Ray SDK (end of support 2027-02-25), and the
// bootstrap links it instead of xraytrace when built with the otel tag.
//
// Spans join the invocation's trace: the Lambda trace header names the
// trace, the parent (the function's segment) and the sampling decision,
// so with the collector's X-Ray exporter the spans appear where the X-Ray
// SDK's subsegments did. Without a sampled header nothing is recorded. A
// sampled invocation's spans are sent when its first span ends, before the
// answer: Lambda may freeze the process right after it. Export failures are
// logged, never returned: tracing never fails a call.
package oteltrace

import (
	"context"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/toolgate/toolgate/internal/trace"
)

// FlushTimeout bounds the export of an invocation's spans.
const FlushTimeout = 500 * time.Millisecond

// Tracer records spans with an OpenTelemetry tracer provider.
type Tracer struct {
	tp  *sdktrace.TracerProvider
	tr  oteltrace.Tracer
	log *slog.Logger
}

// New returns a Tracer exporting over OTLP/HTTP, configured by the
// standard environment variables. The provider's own errors (an export
// that failed) go to logger at warn level.
func New(logger *slog.Logger) trace.Tracer {
	exp, err := otlptracehttp.New(context.Background())
	if err != nil {
		logger.Warn("OpenTelemetry exporter: tracing off", "error", err.Error())
		return trace.Nop{}
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("otel: " + err.Error())
	}))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		// Lambda's header decides; a span without a sampled parent is
		// never made (Start returns a no-op span first).
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())),
		sdktrace.WithResource(lambdaResource()),
	)
	return &Tracer{tp: tp, tr: tp.Tracer("github.com/toolgate/toolgate"), log: logger}
}

// lambdaResource describes the function: OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES as usual, the function's name as the service
// when neither names one.
func lambdaResource() *resource.Resource {
	attrs := []attribute.KeyValue{attribute.String("cloud.provider", "aws"), attribute.String("cloud.platform", "aws_lambda")}
	if r := os.Getenv("AWS_REGION"); r != "" {
		attrs = append(attrs, attribute.String("cloud.region", r))
	}
	if f := os.Getenv("AWS_LAMBDA_FUNCTION_NAME"); f != "" {
		attrs = append(attrs, attribute.String("faas.name", f))
		if os.Getenv("OTEL_SERVICE_NAME") == "" && !strings.Contains(os.Getenv("OTEL_RESOURCE_ATTRIBUTES"), "service.name=") {
			attrs = append(attrs, attribute.String("service.name", f))
		}
	}
	r, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return resource.Default()
	}
	return r
}

// Start opens a span under the span in ctx, or under the function's
// segment named by the invocation's trace header. With neither, or an
// unsampled header, it returns a span that does nothing.
func (t *Tracer) Start(ctx context.Context, name string) (context.Context, trace.Span) {
	root := false
	if !oteltrace.SpanContextFromContext(ctx).IsValid() {
		parent, ok := FromHeader(trace.Header(ctx))
		if !ok || !parent.IsSampled() {
			return trace.Nop{}.Start(ctx, name)
		}
		ctx, root = oteltrace.ContextWithRemoteSpanContext(ctx, parent), true
	}
	ctx, s := t.tr.Start(ctx, name)
	var flush *Tracer
	if root {
		flush = t
	}
	return ctx, span{s: s, flush: flush}
}

type span struct {
	s     oteltrace.Span
	flush *Tracer // set on the invocation's first span: its end sends them all
}

// Annotate sets a string attribute.
func (s span) Annotate(key, value string) { s.s.SetAttributes(attribute.String(key, value)) }

// End ends the span; the invocation's first span also sends every span of
// the invocation.
func (s span) End() {
	s.s.End()
	if s.flush != nil {
		ctx, cancel := context.WithTimeout(context.Background(), FlushTimeout)
		defer cancel()
		if err := s.flush.tp.ForceFlush(ctx); err != nil {
			s.flush.log.Warn("otel: spans not exported", "error", err.Error())
		}
	}
}

// FromHeader reads an X-Ray trace header ("Root=1-5759e988-bd862e3fe1be46a994272793;
// Parent=53995c3f42cd8ad8;Sampled=1") as the remote span context it names.
// An X-Ray trace id is an OpenTelemetry trace id with its dashes removed.
func FromHeader(h string) (oteltrace.SpanContext, bool) {
	var cfg oteltrace.SpanContextConfig
	var root, parent bool
	for part := range strings.SplitSeq(h, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Root":
			ver, rest, ok := strings.Cut(v, "-")
			if !ok || ver != "1" {
				return oteltrace.SpanContext{}, false
			}
			id := strings.ReplaceAll(rest, "-", "")
			if len(id) != 32 || decode(cfg.TraceID[:], id) != nil {
				return oteltrace.SpanContext{}, false
			}
			root = true
		case "Parent":
			if len(v) != 16 || decode(cfg.SpanID[:], v) != nil {
				return oteltrace.SpanContext{}, false
			}
			parent = true
		case "Sampled":
			if v == "1" {
				cfg.TraceFlags = oteltrace.FlagsSampled
			}
		}
	}
	cfg.Remote = true
	sc := oteltrace.NewSpanContext(cfg)
	return sc, root && parent && sc.IsValid()
}

func decode(dst []byte, s string) error {
	_, err := hex.Decode(dst, []byte(s))
	return err
}
