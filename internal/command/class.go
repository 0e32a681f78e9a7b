package command

import "strings"

// Classes of an AWS operation.
const (
	ClassRead    = "read"
	ClassWrite   = "write"
	ClassDelete  = "delete"
	ClassUnknown = "unknown"
)

// verbs class an operation by its first word (create-access-key: create).
// A verb not here is unknown: never assumed harmless.
var verbs = func() map[string]string {
	m := map[string]string{}
	add := func(class string, words string) {
		for _, w := range strings.Fields(words) {
			m[w] = class
		}
	}
	add(ClassRead, `describe list get head search lookup query scan select check validate estimate preview view
		simulate verify filter download detect wait tail help ls presign`)
	add(ClassDelete, `delete terminate remove detach disassociate deregister revoke purge destroy release abort
		untag deprovision discard drop erase wipe truncate rm rb mv`)
	add(ClassWrite, `create put update modify attach associate tag start stop run invoke send publish enable disable
		register reboot restore copy import upload set change reset replace apply execute authorize grant accept allocate
		assume encrypt decrypt sign add allow activate deactivate cancel confirm reject rotate renew request resume
		suspend submit transfer move merge export promote recover subscribe unsubscribe upgrade rebuild restart
		schedule deploy provision retry generate issue initiate complete respond notify opt pause unlink link
		batch-write batch-put batch-update batch-execute mb website sync cp push package login`)
	return m
}()

// criticalServices govern access or hold credentials: any operation of
// them is critical.
var criticalServices = map[string]bool{
	"iam": true, "kms": true, "sts": true, "organizations": true, "sso-admin": true, "identitystore": true,
	"secretsmanager": true, "configure": true,
}

// credentialOperations hand out credentials, keys or secrets: what they
// answer is a secret whatever the service.
var credentialOperations = map[string]bool{
	"ecr get-login-password": true, "ecr-public get-login-password": true, "codeartifact get-authorization-token": true,
	"eks get-token": true, "rds generate-db-auth-token": true, "redshift get-cluster-credentials": true,
	"redshift get-cluster-credentials-with-iam": true, "ssm get-parameter": true, "ssm get-parameters": true,
	"ssm get-parameters-by-path": true, "cognito-identity get-credentials-for-identity": true,
	"lightsail get-instance-access-details": true, "ec2 get-password-data": true, "sts assume-role": true,
	"sts assume-role-with-saml": true, "sts assume-role-with-web-identity": true, "sts get-session-token": true,
	"sts get-federation-token": true, "secretsmanager get-secret-value": true, "secretsmanager batch-get-secret-value": true,
	"kms decrypt": true, "kms generate-data-key": true, "kms generate-data-key-pair": true, "iam create-access-key": true,
	"iam create-login-profile": true, "iam create-service-specific-credential": true, "configure get": true,
	"configure export-credentials": true, "configure list": true, "sso get-role-credentials": true,
	"sso-oidc create-token": true, "iot create-keys-and-certificate": true,
}

// classify returns a command's class, and whether it is critical.
func classify(a AWS) (class string, critical bool) {
	critical = criticalServices[a.Service]
	if a.Service == "s3" {
		return s3Class(a), critical
	}
	op := a.Operation
	for _, prefix := range []string{"admin-", "batch-"} {
		// Cognito's admin-get-user, DynamoDB's batch-get-item: the verb
		// follows. A batch write is a write; batch-delete a delete.
		if rest, ok := strings.CutPrefix(op, prefix); ok && strings.Contains(rest, "-") {
			if class, ok := verbs[prefix+firstWord(rest)]; ok {
				return class, critical
			}
			op = rest
		}
	}
	if class, ok := verbs[firstWord(op)]; ok {
		return class, critical
	}
	return ClassUnknown, critical
}

func firstWord(op string) string {
	w, _, _ := strings.Cut(op, "-")
	return w
}

// s3Flags are the S3 CLI commands' options that take no value: the words
// after them are paths.
var s3Flags = map[string]bool{
	"recursive": true, "dryrun": true, "quiet": true, "delete": true, "exact-timestamps": true, "follow-symlinks": true,
	"no-follow-symlinks": true, "only-show-errors": true, "no-progress": true, "human-readable": true, "summarize": true,
	"force": true, "no-guess-mime-type": true, "size-only": true, "ignore-glacier-warnings": true,
	"force-glacier-transfer": true, "no-overwrite": true,
}

// s3Class classes the S3 CLI's own commands by what they do to buckets:
// cp from a bucket to a local path reads; sync with --delete deletes; mv
// deletes its source.
func s3Class(a AWS) string {
	switch a.Operation {
	case "cp":
		if len(a.Positional) == 2 && strings.HasPrefix(strings.ToLower(a.Positional[0]), "s3://") &&
			!strings.HasPrefix(strings.ToLower(a.Positional[1]), "s3://") {
			return ClassRead
		}
		return ClassWrite
	case "sync":
		if _, ok := a.Parameters["delete"]; ok {
			return ClassDelete
		}
		return ClassWrite
	}
	if class, ok := verbs[a.Operation]; ok {
		return class
	}
	return ClassUnknown
}
