// Command toolgate is the policy workflow for people: invoke, explain,
// validate, test and publish, as the Lambda bootstrap runs them, with AWS
// access through the SDK's default configuration (environment, profiles,
// SSO, instance roles) and its S3 client, retries included. The Lambda
// function keeps only what it runs.
package main

import (
	"os"

	"github.com/toolgate/toolgate/internal/cli"
	"github.com/toolgate/toolgate/policies"
)

func main() {
	aws := newAWS(os.Getenv)
	os.Exit(cli.Main(os.Args[1:], cli.Env{
		Embedded: policies.FS,
		Getenv:   aws.getenv,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Store:    aws.store,
	}))
}
