// Command toolgate is the policy workflow for people: invoke, explain,
// validate, test and publish, as the Lambda bootstrap runs them, the
// approvers' approvals list|show|approve|reject, and the operators'
// quarantine list|lift, with AWS
// access through the SDK's default configuration (environment, profiles,
// SSO, instance roles) and its S3 client, retries included. The Lambda
// function keeps only what it runs.
package main

import (
	"os"
	"time"

	"github.com/toolgate/toolgate/internal/cli"
	"github.com/toolgate/toolgate/policies"
)

func main() {
	aws := newAWS(os.Getenv)
	if len(os.Args) > 1 && os.Args[1] == "approvals" {
		os.Exit(approvals(os.Args[2:], approvalsEnv{
			getenv: aws.getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
			invoke: aws.invoke, now: time.Now,
		}))
	}
	if len(os.Args) > 1 && os.Args[1] == "quarantine" {
		os.Exit(quarantine(os.Args[2:], quarantineEnv{
			getenv: aws.getenv, stdout: os.Stdout, stderr: os.Stderr, store: aws.quarantines, now: time.Now,
		}))
	}
	os.Exit(cli.Main(os.Args[1:], cli.Env{
		Embedded: policies.FS,
		Getenv:   aws.getenv,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Store:    aws.store,
	}))
}
