# Build, run and test toolgate. `make help` lists the targets.

GO      ?= go
# TRACING=otel links OpenTelemetry (OTLP/HTTP) instead of the X-Ray SDK.
TRACING ?= xray
comma := ,
GOFLAGS_BUILD := -tags lambda.norpc$(if $(filter otel,$(TRACING)),$(comma)otel) -trimpath -ldflags "-s -w"

.PHONY: help run test bench build size build-InterceptorFunction build-ApprovalsFunction build-ApprovalWorkflowFunction

help:
	@echo "make run     run the real handler on every testdata event (embedded bundle)"
	@echo "make test    run every test: go test -race ./..."
	@echo "make bench   run the benchmarks"
	@echo "make build   build the stripped linux/arm64 bootstrap into bin/ (TRACING=otel: OpenTelemetry, not X-Ray)"
	@echo "make size    build and print the bootstrap's size"

run:
	$(GO) run ./functions/interceptor invoke testdata/events

test:
	$(GO) test -race ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

build:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o bin/bootstrap ./functions/interceptor

size: build
	@ls -l bin/bootstrap | awk '{printf "bin/bootstrap: %d bytes (%.1f MiB)\n", $$5, $$5/1048576}'

# Called by `sam build` (BuildMethod: makefile) with ARTIFACTS_DIR set.
build-InterceptorFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/interceptor

# The approvals function (the decision path of out-of-band approvals).
build-ApprovalsFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags "-s -w" -o $(ARTIFACTS_DIR)/bootstrap ./functions/approvals

# The workflow's function is the same program in another role
# (APPROVAL_FUNCTION_ROLE).
build-ApprovalWorkflowFunction: build-ApprovalsFunction
