// Command bootstrap is the approvals Lambda functions: the decision path of
// out-of-band approvals (see package approver), which approvers invoke
// through "toolgate approvals", and, with APPROVAL_FUNCTION_ROLE=workflow,
// the approval workflow's steps, which only the workflow invokes.
package main

import (
	"os"
	"runtime"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/toolgate/toolgate/internal/app"
	"github.com/toolgate/toolgate/internal/awsenv"
)

func main() {
	awsenv.SetGC(os.Getenv) // see the interceptor's main
	// A configuration error is logged by NewApprover and yields a handler
	// that refuses every decision with it: the function must still answer.
	h, _ := app.NewApprover(os.Getenv, os.Stdout)
	if n := awsenv.Procs(os.Getenv); n > 0 {
		runtime.GOMAXPROCS(n) // see the interceptor's main
	}
	lambda.Start(h)
}
