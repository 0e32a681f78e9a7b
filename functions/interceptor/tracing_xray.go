//go:build !otel

package main

import "github.com/toolgate/toolgate/internal/trace/xraytrace"

// newTracer is X-Ray by default; build with -tags otel (make TRACING=otel)
// for OpenTelemetry.
var newTracer = xraytrace.New
