//go:build otel

package main

import "github.com/toolgate/toolgate/internal/trace/oteltrace"

// newTracer is OpenTelemetry over OTLP/HTTP in a build with -tags otel.
var newTracer = oteltrace.New
