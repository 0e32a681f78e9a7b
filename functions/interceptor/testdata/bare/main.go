// Command bare is the baseline the bootstrap is measured against: an
// aws-lambda-go function that answers each event with the event itself,
// built with the same flags. What the bootstrap costs beyond it is what
// toolgate adds to a Lambda invocation.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, event json.RawMessage) (json.RawMessage, error) { return event, nil })
}
