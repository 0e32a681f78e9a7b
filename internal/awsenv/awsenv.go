// Package awsenv reads the AWS settings that Lambda gives a function in its
// environment: the region, the credentials of the function's role and the
// endpoint overrides of the AWS SDKs (AWS_ENDPOINT_URL_<SERVICE>, else
// AWS_ENDPOINT_URL). Reading only these keeps the shared-config and
// credential-chain packages, 3 MB of binary, out of the function.
package awsenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Region returns AWS_REGION, else AWS_DEFAULT_REGION.
func Region(getenv func(string) string) (string, error) {
	if r := first(getenv, "AWS_REGION", "AWS_DEFAULT_REGION"); r != "" {
		return r, nil
	}
	return "", errors.New("no AWS region: set AWS_REGION")
}

// Endpoint returns the endpoint override for a service ("S3", "DYNAMODB"):
// AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL, without a trailing
// slash; "" when neither is set.
func Endpoint(getenv func(string) string, service string) (string, error) {
	e := strings.TrimRight(first(getenv, "AWS_ENDPOINT_URL_"+service, "AWS_ENDPOINT_URL"), "/")
	if e == "" {
		return "", nil
	}
	if u, err := url.Parse(e); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("endpoint %q: want an http or https URL", e)
	}
	return e, nil
}

// Credentials returns the credentials in AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, read on every call: Lambda
// sets them for the function's role.
func Credentials(getenv func(string) string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		creds := aws.Credentials{
			AccessKeyID:     getenv("AWS_ACCESS_KEY_ID"),
			SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"),
			SessionToken:    getenv("AWS_SESSION_TOKEN"),
			Source:          "environment",
		}
		if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
			return creds, errors.New("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
		}
		return creds, nil
	})
}

func first(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

// DynamoDBFromEnv returns a DynamoDB client configured by the environment
// (AWS_ENDPOINT_URL_DYNAMODB overrides the endpoint).
func DynamoDBFromEnv(getenv func(string) string, hc *http.Client) (*DynamoDB, error) {
	api, err := dynamoDB.FromEnv(getenv, "DYNAMODB", hc)
	if err != nil {
		return nil, err
	}
	return &DynamoDB{api: *api}, nil
}

// fullVCPU is the memory size at which Lambda gives a function one whole
// vCPU; below it the function gets that share of one, in proportion.
const fullVCPU = 1769

// Procs returns the GOMAXPROCS a Lambda function should run with, or 0 to
// leave Go's default. A sandbox shows the Go runtime two vCPUs whatever
// its memory size, but below 1,769 MB it is given less than one vCPU of
// time: a second P then only hands goroutines between threads, each
// handoff a wake-up and a context switch (about a quarter of what a warm
// invocation costs above a bare function's), and GC workers compete for
// the same share. Left alone: an explicit GOMAXPROCS, and a function that
// serves several invocations at once (AWS_LAMBDA_MAX_CONCURRENCY above
// 1), whose calls and bundle refreshes would queue on one P.
func Procs(getenv func(string) string) int {
	if getenv("GOMAXPROCS") != "" {
		return 0
	}
	if n, err := strconv.Atoi(getenv("AWS_LAMBDA_MAX_CONCURRENCY")); err == nil && n > 1 {
		return 0
	}
	mb, err := strconv.Atoi(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
	if err != nil || mb <= 0 || mb >= fullVCPU {
		return 0
	}
	return 1
}

// gcPercent is the heap growth, in percent of the live heap, that starts a
// collection in a Lambda function. A warm instance holds about 3 MB live
// and a call allocates 20 KB or so: at Go's default of 100, the heap
// doubles past its 4 MB floor every hundred calls, and marking took a
// sixth of a 2 KB call's CPU. At 400 it collects a quarter as often; the
// memory limit below bounds what that costs in memory.
const gcPercent = 400

// gcReserve is the part of a function's memory that Go's memory limit
// leaves to what the limit does not count, above all the pages of the
// binary itself (about 24 MiB of a warm bootstrap's resident memory), and
// to the runtime's own overshoot of the limit.
const gcReserve = 72 << 20

// GC returns the garbage collector's settings for a Lambda function, for
// debug.SetGCPercent and debug.SetMemoryLimit; a zero leaves that one to
// Go. The limit is the function's memory less gcReserve: near it the
// collector works harder rather than let the heap grow, so the largest
// events peak lower than at Go's defaults (a 128 MB function's limit is
// 56 MiB). Each is left alone where the operator set its variable (GOGC,
// GOMEMLIMIT), which the runtime has already applied: GOGC=off alone then
// still has a limit, and does not run out of memory. Both are left alone
// for a memory size Lambda does not offer.
func GC(getenv func(string) string) (percent int, limit int64) {
	mb, err := strconv.ParseInt(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), 10, 64)
	if err != nil || mb < 128 || mb > 1<<20 {
		return 0, 0
	}
	if getenv("GOGC") == "" {
		percent = gcPercent
	}
	if getenv("GOMEMLIMIT") == "" {
		limit = mb<<20 - gcReserve
	}
	return percent, limit
}

// SetGC applies GC's settings to the running program: once, as a
// function starts.
func SetGC(getenv func(string) string) {
	percent, limit := GC(getenv)
	if percent > 0 {
		debug.SetGCPercent(percent)
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
}
