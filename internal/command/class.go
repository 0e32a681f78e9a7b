package command

import (
	"slices"
	"strings"
)

// Classes of an AWS operation, from least to most dangerous. Unknown
// ranks with delete: an operation nobody classified is not assumed
// harmless.
const (
	ClassRead    = "read"
	ClassWrite   = "write"
	ClassExecute = "execute" // runs statements, commands or code of the caller's
	ClassDelete  = "delete"
	ClassUnknown = "unknown"
)

// verbs class an operation by its first word (create-access-key: create).
// A verb not here is unknown. A read verb is one whose operations only
// read: verify (ses verify-email-identity creates an identity), detect
// (cloudformation detect-stack-drift starts a check), preview and download
// (a local file) are writes.
var verbs = func() map[string]string {
	m := map[string]string{}
	add := func(class string, words string) {
		for _, w := range strings.Fields(words) {
			m[w] = class
		}
	}
	add(ClassRead, `describe list get head search lookup query scan select check validate estimate view simulate filter
		wait tail ls`)
	add(ClassDelete, `delete terminate remove detach disassociate deregister revoke purge destroy release abort
		untag deprovision discard drop erase wipe truncate rm rb mv cancel rebuild`)
	add(ClassExecute, `execute invoke`)
	add(ClassWrite, `create put update modify attach associate tag start stop run send publish enable disable
		register reboot restore copy import upload set change reset replace apply authorize grant accept allocate
		assume encrypt decrypt sign add allow activate deactivate confirm reject rotate renew request resume
		suspend submit transfer move merge export promote recover subscribe unsubscribe upgrade restart
		schedule deploy provision retry generate issue initiate complete respond notify opt pause unlink link
		mb website sync cp push package login verify detect preview download presign`)
	return m
}()

// laterDeletes are the verbs that make an operation a delete wherever
// they stand in its name (transfer start-remote-delete).
var laterDeletes = []string{"delete", "terminate", "remove", "purge", "destroy", "deregister", "erase", "wipe", "truncate"}

// executes run statements, commands or code the caller writes: whatever
// their verb, they may delete (DELETE FROM, DROP TABLE, rm -rf).
var executes = map[string]bool{
	"ssm send-command": true, "ssm start-session": true, "ssm start-automation-execution": true,
	"ecs execute-command": true, "ecs run-task": true, "ecs start-task": true, "athena start-query-execution": true,
	"redshift-data execute-statement": true, "redshift-data batch-execute-statement": true,
	"rds-data execute-statement": true, "rds-data batch-execute-statement": true,
	"dynamodb execute-statement": true, "dynamodb batch-execute-statement": true, "dynamodb execute-transaction": true,
	"dynamodb batch-write-item": true, "dynamodb transact-write-items": true, "codebuild start-build": true,
	"batch submit-job": true, "glue start-job-run": true, "states start-execution": true,
	"states start-sync-execution": true, "emr add-steps": true, "emr-serverless start-job-run": true,
	"apigateway test-invoke-method": true, "cloudformation deploy": true, "cloudformation create-stack": true,
	"cloudformation update-stack": true, "cloudformation execute-change-set": true,
	"cloudformation create-stack-set": true, "cloudformation update-stack-set": true,
	"cloudformation create-stack-instances": true, "cloudformation update-stack-instances": true,
	"glue run-statement": true, "athena start-calculation-execution": true, "ssm create-association": true,
	"ssm update-association": true, "ssm start-associations-once": true, "codebuild start-build-batch": true,
	"codebuild retry-build": true, "codebuild retry-build-batch": true, "emr-containers start-job-run": true,
	"sagemaker create-processing-job": true, "sagemaker create-training-job": true, "qldb-session send-command": true,
	"timestream-query query": true, "lambda invoke-async": true, "iot-data publish": true,
}

// customizations are the CLI's own commands that run programs or write
// files on the host the CLI runs on (emr get runs scp, eks
// update-kubeconfig writes ~/.kube/config, codeartifact login writes a
// package manager's configuration): unknown, whatever their verb.
var customizations = map[string]bool{
	"emr get": true, "emr put": true, "emr ssh": true, "emr socks": true, "gamelift get-game-session-log": true,
	"gamelift upload-build": true, "history list": true, "history show": true, "eks update-kubeconfig": true,
	"codeartifact login": true, "deploy install": true, "deploy uninstall": true, "deploy push": true,
	"opsworks register": true, "cloudformation package": true, "sso login": true, "sso logout": true,
}

// reads are operations whose verb says otherwise but that only read.
// writes are operations whose verb says read but that change state.
var writes = map[string]bool{
	"stepfunctions get-activity-task": true, "states get-activity-task": true, "socialmessaging get-whatsapp-message-media": true,
	"sagemaker get-scaling-configuration-recommendation": true, "s3api select-object-content": true,
}

var reads = map[string]bool{
	"logs start-query": true, "logs get-query-results": true, "logs stop-query": true, "logs tail": true,
}

// criticalServices govern access or hold secrets: any operation of them
// is critical.
var criticalServices = map[string]bool{
	"iam": true, "kms": true, "sts": true, "organizations": true, "sso-admin": true, "identitystore": true,
	"secretsmanager": true, "configure": true, "cognito-idp": true, "cognito-identity": true, "ds": true, "ds-data": true,
	"rolesanywhere": true, "ec2-instance-connect": true, "sso": true, "sso-oidc": true,
}

// criticalOperations change IAM under another service's name, as the
// CLI's own commands do.
var criticalOperations = map[string]bool{
	"emr create-default-roles": true, "dlm create-default-role": true, "datapipeline create-default-roles": true,
	"deploy register": true, "deploy deregister": true, "emr-containers update-role-trust-policy": true,
	"iot attach-policy": true, "iot create-policy": true,
}

// accessWords make an operation critical wherever they stand in its name:
// it reads or changes who may do what (s3api put-bucket-policy, lambda
// add-permission, redshift modify-cluster-iam-roles,
// put-public-access-block; modify-image-attribute, whose options may
// share an image, abbreviated or not).
var accessWords = []string{"role", "roles", "policy", "policies", "permission", "permissions", "acl", "acls", "grant",
	"grants", "trust", "iam", "access", "principal", "principals", "sharing", "share", "ingress", "egress",
	"attribute", "attributes"}

// accessOptions make a command critical when an option's name holds one:
// it sets who may do what (ec2 modify-image-attribute --launch-permission,
// s3api put-object --grant-read, --policy-document).
var accessOptions = []string{"policy", "policies", "permission", "permissions", "acl", "grant", "principal", "trust", "role"}

// credentialWords mark an operation whose answer may be a credential,
// wherever they stand in its name (sts get-web-identity-token, lightsail
// get-relational-database-master-user-password, emr
// get-cluster-session-credentials).
var credentialWords = []string{"credential", "credentials", "password", "passwords", "passphrase", "token", "tokens",
	"secret", "secrets", "login", "presign", "presigned", "embed", "url", "urls", "key-pair", "data-key", "stream-key",
	"api-key", "api-keys", "session-endpoint", "export-key", "export-certificate", "chap"}

// credentialOperations hand out credentials, keys or secrets though their
// names do not say so.
var credentialOperations = map[string]bool{
	"ssm get-parameter": true, "ssm get-parameters": true, "ssm get-parameters-by-path": true,
	"ssm get-parameter-history": true, "sts assume-role": true, "sts assume-role-with-saml": true,
	"sts assume-role-with-web-identity": true, "sts get-federation-token": true, "secretsmanager get-secret-value": true,
	"kms decrypt": true, "kms generate-data-key": true, "kms generate-data-key-pair": true, "kms generate-mac": true,
	"iam create-service-specific-credential": true, "configure get": true, "configure export-credentials": true,
	"sso get-role-credentials": true, "iot create-keys-and-certificate": true, "s3control get-data-access": true,
	"gamelift get-compute-access": true, "lightsail get-instance-access-details": true,
	"lightsail download-default-key-pair": true, "glue get-connection": true, "glue get-connections": true,
	"ivs get-stream-key": true, "cognito-identity get-open-id-token": true, "deploy register": true,
	"ec2 get-password-data": true, "ecr get-login": true, "iam create-access-key": true,
	"gamelift get-instance-access": true, "finspace-data get-external-data-view-access-details": true,
	"datazone get-connection": true, "athena get-session-endpoint": true, "codepipeline get-job-details": true,
	"codepipeline get-third-party-job-details": true, "apigateway get-usage-plan-keys": true,
	"apigateway get-usage-plan-key": true, "cognito-idp describe-user-pool-client": true, "location describe-key": true,
	"mediapackage describe-channel": true, "ivs get-channel": true, "chime-sdk-meetings get-attendee": true,
	"emr-serverless get-dashboard-for-job-run": true, "s3api create-session": true, "gamelift create-build": true,
	"iot create-provisioning-claim": true, "route53domains transfer-domain-to-another-aws-account": true,
	"sso-oidc register-client": true, "ec2-instance-connect send-ssh-public-key": true,
	"ec2-instance-connect send-serial-console-ssh-public-key": true,
}

// notCredentials are reads whose names say secret or URL but whose
// answers hold none.
var notCredentials = map[string]bool{
	"secretsmanager list-secrets": true, "secretsmanager describe-secret": true, "sqs get-queue-url": true,
	"secretsmanager list-secret-version-ids": true,
}

// classify returns a command's class, and whether it is critical and
// returns credentials.
func classify(a AWS) (class string, critical, credentials bool) {
	key := a.Service + " " + a.Operation
	words := strings.Split(a.Operation, "-")
	critical = criticalServices[a.Service] || criticalOperations[key] || hasAny(words, accessWords)
	for name := range a.Parameters {
		critical = critical || hasAny(strings.Split(name, "-"), accessOptions) || abbreviatesAny(name, accessOptions)
	}
	credentials = credentialOperations[key] ||
		!notCredentials[key] && (hasAny(words, credentialWords) || hasPhrase(a.Operation, credentialWords))
	switch {
	case customizations[key] || a.Operation == "help" || len(a.Positional) > 0 && a.Positional[0] == "help":
		// The CLI's help runs groff and a pager on its host.
		class = ClassUnknown
	case writes[key]:
		class = ClassWrite
	case reads[key]:
		class = ClassRead
	case a.Service == "s3":
		class = s3Class(a)
	case executes[key]:
		class = ClassExecute
	default:
		class = apiClass(a.Operation, words)
		if class == ClassRead && (outfileOperations[key] || len(a.Positional) > 0 && a.Operation != "wait") {
			// It writes its answer to a file, wherever the file's name
			// stands (s3api get-object OUTFILE), or it has a positional
			// word, which for an API operation is such a file.
			class = ClassWrite
		}
	}
	if class != ClassDelete && (deleteOperations[key] || deletesByOption(a)) {
		class = ClassDelete
	}
	return class, critical, credentials
}

// apiClass classes an API operation by its verb: the first word, or the
// word after admin- or batch- (cognito-idp admin-delete-user,
// dynamodb batch-get-item); a delete verb anywhere makes it a delete.
func apiClass(op string, words []string) string {
	for _, w := range words[1:] {
		if slices.Contains(laterDeletes, w) {
			return ClassDelete
		}
	}
	verb := words[0]
	if (verb == "admin" || verb == "batch") && len(words) > 1 {
		verb = words[1]
	}
	if class, ok := verbs[verb]; ok {
		return class
	}
	return ClassUnknown
}

// deletesByOption reports whether an option makes a command delete
// (--terminate-instances, --delete, --force-delete), as its name says,
// whatever the operation's class. A name that may abbreviate one counts:
// the CLI reads abbreviations.
func deletesByOption(a AWS) bool {
	for name := range a.Parameters {
		words := strings.Split(name, "-")
		if words[0] == "force" && len(words) > 1 {
			words = words[1:]
		}
		if slices.Contains(laterDeletes, words[0]) {
			return true
		}
		for _, d := range laterDeletes {
			if len(words) == 1 && len(name) >= 2 && strings.HasPrefix(d, name) {
				return true // --del, --term
			}
		}
	}
	return false
}

// abbreviatesAny reports whether an option name of one word is a strict
// prefix of one of these (--a for --acl, --pol for --policy): the CLI
// reads abbreviations.
func abbreviatesAny(name string, these []string) bool {
	if strings.Contains(name, "-") {
		return false
	}
	return slices.ContainsFunc(these, func(w string) bool { return len(name) < len(w) && strings.HasPrefix(w, name) })
}

// hasAny reports whether words holds any of these.
func hasAny(words, these []string) bool {
	return slices.ContainsFunc(words, func(w string) bool { return slices.Contains(these, w) })
}

// hasPhrase reports whether op holds one of the dashed phrases of these
// as whole words (key-pair in download-default-key-pair).
func hasPhrase(op string, these []string) bool {
	padded := "-" + op + "-"
	for _, p := range these {
		if strings.Contains(p, "-") && strings.Contains(padded, "-"+p+"-") {
			return true
		}
	}
	return false
}

// s3Flags are the S3 CLI commands' options that take no value: the words
// after them are paths.
var s3Flags = map[string]bool{
	"recursive": true, "dryrun": true, "quiet": true, "delete": true, "exact-timestamps": true, "follow-symlinks": true,
	"no-follow-symlinks": true, "only-show-errors": true, "no-progress": true, "human-readable": true, "summarize": true,
	"force": true, "no-guess-mime-type": true, "size-only": true, "ignore-glacier-warnings": true,
	"force-glacier-transfer": true, "no-overwrite": true,
}

// s3Class classes the S3 CLI's own commands by what they do. A copy to a
// local path writes a file on the host the CLI runs on (its own
// ~/.aws/config among them), so only ls and presign read; mv and rb
// delete; sync with --delete deletes.
func s3Class(a AWS) string {
	switch a.Operation {
	case "ls":
		return ClassRead
	case "presign":
		return ClassRead
	case "mv", "rm", "rb":
		return ClassDelete
	case "cp", "sync", "mb", "website":
		return ClassWrite
	}
	return ClassUnknown
}
