package attributes

import (
	"strings"

	"github.com/toolgate/toolgate/internal/fold"
)

// CredentialStores returns the JSON Pointers (RFC 6901) of the string
// arguments, at any depth, that name a place credentials are kept: the AWS
// CLI's files, SSH private keys, .env files, a process's environment,
// cloud metadata endpoints (in dotted, decimal and hex forms), and the
// other CLIs' credential files. Redaction cannot beat every encoding a
// command can print a secret in; a policy can refuse the command.
//
// Values are read as a shell would run them: look-alikes folded, case
// ignored, quotes and backslashes dropped (c\at ~/.a”ws/cred"entials),
// doubled slashes and "/./" collapsed, so spelling a path differently
// does not hide it. A glob that can only match a store (~/.aws/cred*) is
// found too.
func CredentialStores(args map[string]any) []string {
	_, stores := scanArguments(args)
	return stores
}

// credentialPaths are what a normalised value (see shellNormal) holds when
// it names a credential store; globs are matched by their literal prefix
// (see namesCredentialStore).
var credentialPaths = []string{
	".aws/credentials", ".aws/config", ".aws/sso/cache", ".aws/cli/cache",
	".ssh/id_", ".ssh/identity",
	".docker/config.json", ".kube/config", ".netrc", ".git-credentials", ".npmrc", ".pypirc",
	".config/gcloud", "application_default_credentials.json", ".azure/", ".gnupg/", "/etc/shadow",
	".vault-token", ".terraform.d/credentials",
	// Cloud instance and task metadata: the credentials of the machine's
	// role. 169.254.169.254 is also written 2852039166, 0xa9fea9fe and
	// 0251.0376.0251.0376.
	"169.254.169.254", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "[fd00:ec2::254]", "fd00:ec2::254",
	"metadata.google.internal", "169.254.170.2", "100.100.100.200",
}

// namesCredentialStore reports whether s names a credential store.
func namesCredentialStore(s string) bool {
	if len(s) < 4 || plainWord(s) {
		return false
	}
	n := shellNormal(s)
	for _, p := range credentialPaths {
		if strings.Contains(n, p) {
			return true
		}
	}
	return environ(n) || dotEnv(n) || credentialGlob(n)
}

// plainWord reports whether s is ASCII without a character any credential
// path or address has ("./:" and the two undotted addresses): most
// arguments, which then cost no normalising.
func plainWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || c == '.' || c == '/' || c == ':' || c == '\\' {
			return false
		}
	}
	return !strings.Contains(s, "2852039166") && !strings.Contains(strings.ToLower(s), "0xa9fea9fe")
}

// environ reports whether n names a process's environment file,
// /proc/<pid>/environ, as a whole path component.
func environ(n string) bool {
	for i := 0; ; {
		k := strings.Index(n[i:], "/environ")
		if k < 0 {
			return false
		}
		i += k + len("/environ")
		if i == len(n) || pathBoundary(n[i]) {
			return true
		}
	}
}

// shellNormal folds s as a shell would read it: look-alikes folded, lower
// case, quotes and backslashes removed, "//" and "/./" collapsed.
func shellNormal(s string) string {
	s = strings.ToLower(fold.String(s))
	s = strings.Map(func(r rune) rune {
		switch r {
		case '"', '\'', '\\', '`':
			return -1
		}
		return r
	}, s)
	for _, pair := range [][2]string{{"/./", "/"}, {"//", "/"}} {
		for strings.Contains(s, pair[0]) {
			s = strings.ReplaceAll(s, pair[0], pair[1])
		}
	}
	return s
}

// dotEnv reports whether n holds a path component ".env" or ".env.<name>"
// (.env.local, .env.production).
func dotEnv(n string) bool {
	for i := 0; ; {
		k := strings.Index(n[i:], ".env")
		if k < 0 {
			return false
		}
		k += i
		i = k + len(".env")
		if k > 0 && !pathBoundary(n[k-1]) {
			continue // my.env is not the project's .env; venv/.environ neither
		}
		if i == len(n) || pathBoundary(n[i]) || n[i] == '.' {
			return true
		}
	}
}

func pathBoundary(c byte) bool { return strings.IndexByte("/ \t\n=:;|&<>(){}", c) >= 0 }

// credentialGlob reports whether n holds a glob whose literal part before
// the first wildcard is the start of a credential path of at least 6
// characters (~/.aws/cred*, ~/.ssh/id_*, /proc/*/environ).
func credentialGlob(n string) bool {
	if !strings.ContainsAny(n, "*?[") {
		return false
	}
	for _, field := range strings.FieldsFunc(n, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '=' }) {
		cut := strings.IndexAny(field, "*?[")
		if cut < 0 {
			continue
		}
		lit := field[:cut]
		if strings.HasPrefix(field, "/proc/") && strings.HasSuffix(field, "/environ") {
			return true
		}
		for _, p := range credentialPaths {
			// The literal part ends inside p: .aws/cred of .aws/credentials.
			for k := 6; k <= len(p); k++ {
				if strings.HasSuffix(lit, p[:k]) {
					return true
				}
			}
		}
	}
	return false
}
