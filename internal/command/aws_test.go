package command_test

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/command"
)

func TestParseAWS(t *testing.T) {
	for _, c := range []struct {
		text                string
		service, operation  string
		class               string
		critical, creds     bool
		region, profile     string
		parameters, globals map[string]any
		positional          []string
	}{
		{text: "aws s3 ls", service: "s3", operation: "ls", class: "read"},
		{text: "aws iam create-access-key --user-name bob", service: "iam", operation: "create-access-key", class: "write", critical: true, creds: true,
			parameters: map[string]any{"user-name": "bob"}},
		{text: "aws --region eu-west-1 --profile prod ec2 describe-instances --instance-ids i-1 i-2 --dry-run",
			service: "ec2", operation: "describe-instances", class: "read", region: "eu-west-1", profile: "prod",
			parameters: map[string]any{"instance-ids": []string{"i-1", "i-2"}, "dry-run": true},
			globals:    map[string]any{"region": "eu-west-1", "profile": "prod"}},
		// global options stand anywhere, with = or not
		{text: "aws ec2 terminate-instances --instance-ids=i-1 --region=us-east-1 --output json", service: "ec2",
			operation: "terminate-instances", class: "delete", region: "us-east-1",
			parameters: map[string]any{"instance-ids": "i-1"}, globals: map[string]any{"region": "us-east-1", "output": "json"}},
		// quoting as a POSIX shell splits words
		{text: `aws dynamodb put-item --table-name 'my table' --item "{\"id\": {\"S\": \"a b\"}}"`, service: "dynamodb",
			operation: "put-item", class: "write", parameters: map[string]any{"table-name": "my table", "item": `{"id": {"S": "a b"}}`}},
		{text: `aws s3 rm s3://b/k\ 1 --recursive`, service: "s3", operation: "rm", class: "delete",
			parameters: map[string]any{"recursive": true}, positional: []string{"s3://b/k 1"}},
		// --cli-input-json members are named as options
		{text: `aws iam create-user --cli-input-json '{"UserName": "x", "Tags": [{"Key": "a", "Value": "b"}], "DBInstanceIdentifier": "d", "GatewayARNs": []}'`,
			service: "iam", operation: "create-user", class: "write", critical: true,
			parameters: map[string]any{"cli-input-json": `{"UserName": "x", "Tags": [{"Key": "a", "Value": "b"}], "DBInstanceIdentifier": "d", "GatewayARNs": []}`,
				"user-name": "x", "tags": []any{map[string]any{"Key": "a", "Value": "b"}}, "db-instance-identifier": "d", "gateway-arns": []any{}}},
		// classes: prefixes, S3's own commands, unknown verbs
		{text: "aws dynamodb batch-get-item --request-items x", service: "dynamodb", operation: "batch-get-item", class: "read",
			parameters: map[string]any{"request-items": "x"}},
		{text: "aws dynamodb batch-write-item", service: "dynamodb", operation: "batch-write-item", class: "execute", parameters: map[string]any{}},
		{text: "aws cognito-idp admin-delete-user", service: "cognito-idp", operation: "admin-delete-user", class: "delete", critical: true},
		// a copy to a local path writes on the host (its ~/.aws/config too)
		{text: "aws s3 cp s3://b/k ./k", service: "s3", operation: "cp", class: "write", positional: []string{"s3://b/k", "./k"}},
		{text: "aws s3 cp --recursive ./d s3://b/", service: "s3", operation: "cp", class: "write",
			parameters: map[string]any{"recursive": true}, positional: []string{"./d", "s3://b/"}},
		{text: "aws s3 sync . s3://b --delete", service: "s3", operation: "sync", class: "delete",
			parameters: map[string]any{"delete": true}, positional: []string{".", "s3://b"}},
		{text: "aws s3 mv s3://a/x s3://b/x", service: "s3", operation: "mv", class: "delete", positional: []string{"s3://a/x", "s3://b/x"}},
		{text: "aws lambda frobnicate-function", service: "lambda", operation: "frobnicate-function", class: "unknown"},
		{text: "aws ecr get-login-password", service: "ecr", operation: "get-login-password", class: "read", creds: true},
		// found by an attack: verbs that do not say what an operation does
		{text: "aws ses verify-email-identity --email-address a@example.com", service: "ses", operation: "verify-email-identity",
			class: "write", parameters: map[string]any{"email-address": "a@example.com"}},
		{text: "aws transfer start-remote-delete --connector-id c", service: "transfer", operation: "start-remote-delete", class: "delete",
			parameters: map[string]any{"connector-id": "c"}},
		{text: "aws ec2 cancel-spot-fleet-requests --spot-fleet-request-ids s --terminate-instances", service: "ec2",
			operation: "cancel-spot-fleet-requests", class: "delete", parameters: map[string]any{"spot-fleet-request-ids": "s", "terminate-instances": true}},
		{text: "aws s3 sync /tmp/d s3://b --del", service: "s3", operation: "sync", class: "delete",
			parameters: map[string]any{"del": true}, positional: []string{"/tmp/d", "s3://b"}},
		{text: "aws dynamodb execute-statement --statement x", service: "dynamodb", operation: "execute-statement", class: "execute",
			parameters: map[string]any{"statement": "x"}},
		// an output file, wherever it stands (found by a second attack)
		{text: "aws s3api get-object --bucket b --key k out.txt", service: "s3api", operation: "get-object", class: "write",
			parameters: map[string]any{"bucket": "b", "key": []string{"k", "out.txt"}}},
		{text: "aws appsync get-introspection-schema --api-id a --format SDL --include-directives /tmp/out", service: "appsync",
			operation: "get-introspection-schema", class: "write", parameters: map[string]any{"api-id": "a", "format": "SDL", "include-directives": "/tmp/out"}},
		{text: "aws emr get --cluster-id j-1 --src /etc/hostname", service: "emr", operation: "get", class: "unknown",
			parameters: map[string]any{"cluster-id": "j-1", "src": "/etc/hostname"}},
		{text: "aws timestream-query query --query-string x", service: "timestream-query", operation: "query", class: "execute",
			parameters: map[string]any{"query-string": "x"}},
		{text: "aws glue run-statement --session-id s --code x", service: "glue", operation: "run-statement", class: "execute",
			parameters: map[string]any{"session-id": "s", "code": "x"}},
		{text: "aws cognito-idp admin-add-user-to-group --group-name g", service: "cognito-idp", operation: "admin-add-user-to-group",
			class: "write", critical: true, parameters: map[string]any{"group-name": "g"}},
		{text: "aws ec2 modify-image-attribute --image-id i --launch x", service: "ec2", operation: "modify-image-attribute",
			class: "write", critical: true, parameters: map[string]any{"image-id": "i", "launch": "x"}},
		{text: "aws apigateway get-api-key --api-key k --include-value", service: "apigateway", operation: "get-api-key", class: "read",
			creds: true, parameters: map[string]any{"api-key": "k", "include-value": true}},
		{text: "aws emr get-on-cluster-app-ui-presigned-url --cluster-id j", service: "emr", operation: "get-on-cluster-app-ui-presigned-url",
			class: "read", creds: true, parameters: map[string]any{"cluster-id": "j"}},
		{text: "aws secretsmanager list-secrets", service: "secretsmanager", operation: "list-secrets", class: "read", critical: true},
		{text: "aws cognito-idp describe-user-pool-client --client-id c", service: "cognito-idp", operation: "describe-user-pool-client",
			class: "read", critical: true, creds: true, parameters: map[string]any{"client-id": "c"}},
		{text: "aws logs tail /aws/lambda/f", service: "logs", operation: "tail", class: "read", positional: []string{"/aws/lambda/f"}},
		// found by a third attack: an answer file does not hide a delete
		// or a run, select-object-content writes one, help runs programs
		{text: "aws lambda invoke --function-name f out.json", service: "lambda", operation: "invoke", class: "execute",
			parameters: map[string]any{"function-name": []string{"f", "out.json"}}},
		{text: "aws iot-data delete-thing-shadow --thing-name t out.json", service: "iot-data", operation: "delete-thing-shadow",
			class: "delete", parameters: map[string]any{"thing-name": []string{"t", "out.json"}}},
		{text: "aws s3api select-object-content --bucket b --key k x.pth", service: "s3api", operation: "select-object-content",
			class: "write", parameters: map[string]any{"bucket": "b", "key": []string{"k", "x.pth"}}},
		{text: "aws ec2 help", service: "ec2", operation: "help", class: "unknown"},
		{text: "aws securityhub disable-security-hub", service: "securityhub", operation: "disable-security-hub", class: "delete"},
		{text: "aws ec2 wait help", service: "ec2", operation: "wait", class: "unknown", positional: []string{"help"}},
		{text: "aws emr get-session-endpoint --cluster-id j", service: "emr", operation: "get-session-endpoint", class: "read",
			creds: true, parameters: map[string]any{"cluster-id": "j"}},
		{text: "aws acm export-certificate --certificate-arn a", service: "acm", operation: "export-certificate", class: "write",
			creds: true, parameters: map[string]any{"certificate-arn": "a"}},
		{text: "aws s3api put-object --bucket b --key k --a public-read", service: "s3api", operation: "put-object", class: "write",
			critical: true, parameters: map[string]any{"bucket": "b", "key": "k", "a": "public-read"}},
		{text: "aws ds-data add-group-member --group-name Admins", service: "ds-data", operation: "add-group-member", class: "write",
			critical: true, parameters: map[string]any{"group-name": "Admins"}},
		{text: "aws quicksight update-user --role ADMIN", service: "quicksight", operation: "update-user", class: "write",
			critical: true, parameters: map[string]any{"role": "ADMIN"}},
		{text: "aws s3api get-object out.txt --bucket b --key k", service: "s3api", operation: "get-object", class: "write",
			parameters: map[string]any{"bucket": "b", "key": "k"}, positional: []string{"out.txt"}},
		{text: "aws s3api put-bucket-policy --bucket b --policy p", service: "s3api", operation: "put-bucket-policy", class: "write",
			critical: true, parameters: map[string]any{"bucket": "b", "policy": "p"}},
		{text: "aws ec2 modify-image-attribute --image-id i --launch-permission x", service: "ec2", operation: "modify-image-attribute",
			class: "write", critical: true, parameters: map[string]any{"image-id": "i", "launch-permission": "x"}},
		{text: "aws emr create-default-roles", service: "emr", operation: "create-default-roles", class: "write", critical: true},
		{text: "aws deploy register --instance-name i", service: "deploy", operation: "register", class: "write", critical: true, creds: true,
			parameters: map[string]any{"instance-name": "i"}},
		{text: "aws sts get-web-identity-token --audience a", service: "sts", operation: "get-web-identity-token", class: "read",
			critical: true, creds: true, parameters: map[string]any{"audience": "a"}},
		{text: "aws s3 presign s3://b/k", service: "s3", operation: "presign", class: "read", creds: true, positional: []string{"s3://b/k"}},
		{text: "aws ecr get-login --no-include-email", service: "ecr", operation: "get-login", class: "read", creds: true,
			parameters: map[string]any{"no-include-email": true}},
		{text: "aws logs start-query --query-string x", service: "logs", operation: "start-query", class: "read",
			parameters: map[string]any{"query-string": "x"}},
		{text: "aws configure export-credentials", service: "configure", operation: "export-credentials", class: "write", critical: true, creds: true},
		{text: "aws secretsmanager get-secret-value --secret-id s", service: "secretsmanager", operation: "get-secret-value", class: "read",
			critical: true, creds: true, parameters: map[string]any{"secret-id": "s"}},
		{text: "aws ec2 wait instance-running --instance-ids i-1", service: "ec2", operation: "wait", class: "read",
			parameters: map[string]any{"instance-ids": "i-1"}, positional: []string{"instance-running"}},
		{text: "aws  sts\tget-caller-identity ", service: "sts", operation: "get-caller-identity", class: "read", critical: true},
		{text: "aws --debug --no-verify-ssl --endpoint-url http://x s3 ls", service: "s3", operation: "ls", class: "read",
			globals: map[string]any{"debug": true, "no-verify-ssl": true, "endpoint-url": "http://x"}},
	} {
		a, err := command.ParseAWS(c.text)
		if err != nil {
			t.Errorf("%s: %v", c.text, err)
			continue
		}
		if c.parameters == nil {
			c.parameters = map[string]any{}
		}
		if c.globals == nil {
			c.globals = map[string]any{}
		}
		if c.positional == nil {
			c.positional = []string{}
		}
		want := command.AWS{Service: c.service, Operation: c.operation, Class: c.class, Critical: c.critical, Credentials: c.creds, Region: c.region,
			Profile: c.profile, EndpointURL: func() string { s, _ := c.globals["endpoint-url"].(string); return s }(),
			Globals: c.globals, Parameters: c.parameters, Positional: c.positional}
		if !reflect.DeepEqual(a, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.text, a, want)
		}
	}
}

// TestParseAWSRefuses: what a shell or the CLI could read otherwise than
// this reader is not read, and the error never quotes the command.
func TestParseAWSRefuses(t *testing.T) {
	for _, text := range []string{
		"", "ls", "aws", "aws s3", "aws --region", "/usr/bin/aws s3 ls", "AWS s3 ls", "aws S3 ls", "aws s3 LS",
		"aws s3 ls; rm -rf /", "aws s3 ls | sh", "aws s3 ls && aws iam delete-user --user-name x", "aws s3 ls &",
		"aws s3 ls > /tmp/x", "aws s3 ls < /tmp/x", "aws s3 ls $(secret)", "aws s3 ls `id`", "aws s3 ls $HOME",
		`aws s3 ls "$HOME"`, "aws s3 ls \"`id`\"", "aws s3 ls\nrm -rf /", "aws s3 ls\r", "aws s3 ls #comment",
		"aws s3 ls 'unclosed", `aws s3 ls "unclosed`, `aws s3 ls \`, "aws s3 ls (x)", "aws s3 ls \x00",
		"aws --region a --region b s3 ls", "aws s3 ls --region a --region=b", "aws --reg us-east-1 s3 ls", "aws --prof x s3 ls",
		"aws --debug=1 s3 ls", "aws iam create-user --user-name a --user-name b", "aws s3 ls -- --region x",
		"aws iam create-user --cli-input-json file://in.json", "aws iam create-user --cli-input-json FILEB://in.json",
		"aws iam create-user --cli-input-json https://x/in.json", `aws iam create-user --cli-input-json '{"UserName":"a","UserName":"b"}'`,
		`aws iam create-user --cli-input-json '{"UserName":"a","username":"b"}'`, `aws iam create-user --cli-input-json '[1]'`,
		`aws iam create-user --cli-input-json '{"UserName":"a"}' --user-name b`, `aws iam create-user --cli-input-json '{"N": 12345678901234567890}'`,
		"aws iam create-user --cli-input-yaml '[unclosed'", "aws kms decrypt --cli-input-yaml 'KeyId: k'", "aws iam create-user --cli-input-json a b",
		"aws --region us-east-1", "aws s3 --recursive", "aws ïam list-users", "aws iam list_users", "aws iam list-users --User-Name x",
		"aws \xff s3 ls", strings.Repeat("a", 64<<10+1), "aws s3 ls" + strings.Repeat(" x", 4097),
		// found by an attack: the CLI reads abbreviations, files and URLs
		"aws ec2 describe-instances --cli-input-j '{}'", "aws ec2 describe-instances --cli-in x",
		"aws dynamodb get-item --table-name t --key file:///proc/self/environ", "aws dynamodb get-item --table-name t --key=FILEB://x",
		"aws dynamodb get-item --table-name t --key http://127.0.0.1/latest/creds", "aws s3api list-objects-v2 --bucket b --prefix ' file://x'",
		"aws ec2 describe-instances --filters a https://x", "aws s3 ls file:///tmp/secret", "aws s3 ls http://127.0.0.1:8765/x",
		"aws s3 ls 'file://$AWS_WEB_IDENTITY_TOKEN_FILE'", `aws s3api get-object --bucket b --key k "--x=a b"`,
	} {
		a, err := command.ParseAWS(text)
		if err == nil {
			t.Errorf("%q read as %+v", text, a)
			continue
		}
		for _, word := range []string{"rm", "secret", "HOME", "unclosed", "in.json", "12345678901234567890", "us-east-1"} {
			if strings.Contains(text, word) && strings.Contains(err.Error(), word) {
				t.Errorf("%q: error %q quotes the command", text, err)
			}
		}
	}
}

// TestRead: the argument a catalog names is read; a missing or non-string
// argument is a command not parsed.
func TestRead(t *testing.T) {
	c := command.Read(command.DialectAWS, "cli_command", map[string]any{"cli_command": "aws iam list-users"})
	if !c.Parsed || c.AWS.Service != "iam" || c.AWS.Class != "read" || c.Error != "" {
		t.Errorf("parsed: %+v", c)
	}
	for _, args := range []map[string]any{{}, {"cli_command": 1.0}, {"cli_command": []any{"aws", "s3", "ls"}}, {"cli_command": "aws s3 ls; id"}} {
		c := command.Read(command.DialectAWS, "cli_command", args)
		if c.Parsed || c.Error == "" || c.Dialect != "aws" || c.Argument != "cli_command" || c.AWS.Parameters == nil {
			t.Errorf("%v: %+v", args, c)
		}
	}
}

// FuzzParseAWS: no command panics the reader, a command read is read the
// same way again, and what is read holds only names for service and
// operation.
func FuzzParseAWS(f *testing.F) {
	for _, s := range []string{"aws s3 ls", `aws iam create-user --cli-input-json '{"UserName":"x"}'`, "aws --region a ec2 describe-instances --x y z",
		`aws s3 cp "a b" 's3://c'`, "aws kms decrypt --cli-input-yaml 'a: [1, {b: c}]'", `aws x y \"z`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		a, err := command.ParseAWS(text)
		b, err2 := command.ParseAWS(text)
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(a, b) {
			t.Fatalf("%q read two ways", text)
		}
		if err != nil {
			return
		}
		for _, name := range []string{a.Service, a.Operation} {
			if name == "" || strings.ToLower(name) != name || strings.ContainsAny(name, " \t\"'$;|&") {
				t.Fatalf("%q: service or operation %q", text, name)
			}
		}
		switch a.Class {
		case "read", "write", "delete", "unknown":
		default:
			t.Fatalf("%q: class %q", text, a.Class)
		}
	})
}

// xformName is botocore's xform_name with dashes, as botocore writes it:
// the reference optionName is held to.
func xformName(name string) string {
	if strings.Contains(name, "-") {
		return name
	}
	if m := regexp.MustCompile(`[A-Z]{2,}s$`).FindStringIndex(name); m != nil {
		name = name[:m[0]] + "-" + strings.ToLower(name[m[0]:])
	}
	s := regexp.MustCompile(`(.)([A-Z][a-z]+)`).ReplaceAllString(name, "${1}-${2}")
	return strings.ToLower(regexp.MustCompile(`([a-z0-9])([A-Z])`).ReplaceAllString(s, "${1}-${2}"))
}

// FuzzOptionName: --cli-input-json members are named as botocore names
// them.
func FuzzOptionName(f *testing.F) {
	for _, s := range []string{"UserName", "DBInstanceIdentifier", "GatewayARNs", "ABs", "xABCs", "S3Key", "ListS3Buckets",
		"aBcDeF", "Foo\nBar", "ÀbCd", "already-dashed", "HTTPHeaders", "Ipv6CidrBlock", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := command.OptionName(name), xformName(name); got != want {
			t.Errorf("%q: %q, botocore %q", name, got, want)
		}
	})
}
