// Command bootstrap is the approvals Lambda function: the decision path of
// out-of-band approvals (see package approver). Approvers invoke it through
// "toolgate approvals approve|reject"; the approval workflow waits on it.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/toolgate/toolgate/internal/app"
)

func main() {
	// A configuration error is logged by NewApprover and yields a handler
	// that refuses every decision with it: the function must still answer.
	h, _ := app.NewApprover(os.Getenv, os.Stdout)
	lambda.Start(h)
}
