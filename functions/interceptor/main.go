// Command bootstrap is the interceptor Lambda function. Under the Lambda
// runtime it serves interceptor events; anywhere else it is the local command
// line (see "bootstrap help"), running the same handler.
package main

import (
	"os"
	"runtime"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/toolgate/toolgate/internal/app"
	"github.com/toolgate/toolgate/internal/awsenv"
	"github.com/toolgate/toolgate/internal/cli"
	"github.com/toolgate/toolgate/policies"
)

func main() {
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") == "" {
		// The commands Lambda needs run here; validate and publish are
		// toolgate's (cmd/toolgate), for people, with the SDK's S3 client.
		os.Exit(cli.Main(os.Args[1:], cli.Env{Embedded: policies.FS, Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr}))
	}
	// Before the bundle is compiled: its garbage is collected as a warm
	// instance's is.
	awsenv.SetGC(os.Getenv)
	// A configuration or bundle error is logged by NewHandler and yields a
	// handler that denies everything: the function must still answer.
	h, _ := app.NewHandler(os.Getenv, policies.FS, os.Stdout, newTracer)
	// Only once the bundle is compiled: with one P from the start, the
	// compilation's garbage was collected on that P alone, and a cold
	// start took 5.4-5.8x a bare function's instead of 6.4-7.0x.
	if n := awsenv.Procs(os.Getenv); n > 0 {
		runtime.GOMAXPROCS(n)
	}
	lambda.Start(h)
}
