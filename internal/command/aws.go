package command

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/strictjson"
)

// AWS is an AWS CLI command (tool.command.aws).
type AWS struct {
	// Service is the command's first word after aws and its options
	// (iam, s3, s3api, ec2, configure ...), Operation the second
	// (create-access-key, ls), both as the CLI reads them: lower case.
	Service   string `json:"service"`
	Operation string `json:"operation"`
	// Class is what the operation does, from its verb: read (describe,
	// list, get ...), write (create, put, update ...), delete (delete,
	// terminate, remove ...) or unknown (no verb this package knows),
	// which policies must not treat as harmless.
	Class string `json:"class"`
	// Critical is true for the services that govern access or keep
	// secrets: iam, kms, sts, organizations, sso-admin, identitystore,
	// secretsmanager and the CLI's own configure.
	Critical bool `json:"critical"`
	// Credentials is true for an operation whose answer is a credential,
	// a key or a secret (ecr get-login-password, sts assume-role,
	// secretsmanager get-secret-value, ssm get-parameter, kms decrypt,
	// iam create-access-key, configure export-credentials ...).
	Credentials bool `json:"credentials"`
	// Region, Profile and EndpointURL are the global options --region,
	// --profile and --endpoint-url; "" when not given.
	Region      string `json:"region"`
	Profile     string `json:"profile"`
	EndpointURL string `json:"endpointUrl"`
	// Globals are every global option given (output, query, debug,
	// no-verify-ssl, no-sign-request ...), named without "--": a string
	// for an option with a value, true for a flag.
	Globals map[string]any `json:"globals"`
	// Parameters are the operation's options, named as the CLI names them
	// without "--" (user-name, instance-ids): a string for one value, a
	// list of strings for several, true for a flag. Members of
	// --cli-input-json or --cli-input-yaml are added under the same names
	// (UserName becomes user-name), with their JSON values. A command with
	// --cli-input-yaml is not read.
	Parameters map[string]any `json:"parameters"`
	// Positional are the words after the operation that are no option's
	// value (the paths of aws s3 cp, a waiter's name).
	Positional []string `json:"positional"`
}

func emptyAWS() AWS {
	return AWS{Globals: map[string]any{}, Parameters: map[string]any{}, Positional: []string{}}
}

// Bounds of what is read: a longer command is not read, and is denied.
const (
	maxCommand = 64 << 10
	maxWords   = 4096
	maxDepth   = 32
)

// globalOptions are the AWS CLI's global options, and whether each takes
// a value. They may stand anywhere after aws.
var globalOptions = map[string]bool{
	"debug": false, "endpoint-url": true, "no-verify-ssl": false, "no-paginate": false, "output": true, "query": true,
	"profile": true, "region": true, "version": false, "color": true, "no-sign-request": false, "ca-bundle": true,
	"cli-read-timeout": true, "cli-connect-timeout": true, "cli-binary-format": true, "no-cli-pager": false,
	"cli-auto-prompt": false, "no-cli-auto-prompt": false, "v2-debug": false,
}

// ParseAWS reads text as one AWS CLI command, as a program that splits
// words as a POSIX shell does and runs aws without a shell (AWS's MCP
// server) reads it. It refuses what a shell would read otherwise (a pipe,
// a list, a redirection, a substitution, an expansion of $), what the CLI
// might read otherwise than this reader (an option given twice, an
// abbreviated global option, input from a file or a URL), and anything
// longer than 64 KB or 4,096 words. Its errors never quote text.
func ParseAWS(text string) (AWS, error) {
	a := emptyAWS()
	words, err := shellWords(text)
	if err != nil {
		return a, err
	}
	if len(words) == 0 || words[0] != "aws" {
		return a, errorf("the command does not start with the word aws")
	}
	seen := map[string]bool{}
	var rest []string // the words that are not global options
	for i := 1; i < len(words); i++ {
		w := words[i]
		if w == "--" {
			// argparse reads every word after it as positional, this
			// reader would not.
			return a, errorf("the command holds --, which ends options")
		}
		if !strings.HasPrefix(w, "--") {
			rest = append(rest, w)
			continue
		}
		name, value, inline := strings.Cut(w[2:], "=")
		takesValue, global := globalOptions[name]
		if !global {
			if abbreviates(name) {
				return a, errorf("an option abbreviates a global option")
			}
			rest = append(rest, w)
			continue
		}
		if seen[name] {
			return a, errorf("a global option is given twice")
		}
		seen[name] = true
		switch {
		case takesValue && !inline:
			if i+1 == len(words) {
				return a, errorf("a global option has no value")
			}
			i++
			value = words[i]
		case !takesValue && inline:
			return a, errorf("a global flag is given a value")
		}
		if takesValue {
			a.Globals[name] = value
		} else {
			a.Globals[name] = true
		}
	}
	a.Region, _ = a.Globals["region"].(string)
	a.Profile, _ = a.Globals["profile"].(string)
	a.EndpointURL, _ = a.Globals["endpoint-url"].(string)
	if len(rest) < 2 || strings.HasPrefix(rest[0], "-") || strings.HasPrefix(rest[1], "-") {
		return a, errorf("the command names no service and operation")
	}
	a.Service, a.Operation = rest[0], rest[1]
	if !validName(a.Service) || !validName(a.Operation) {
		return a, errorf("the service or operation is not a name of lower-case letters, digits and dashes")
	}
	if err := a.options(rest[2:]); err != nil {
		return emptyAWS(), err
	}
	a.Class, a.Critical, a.Credentials = classify(a)
	return a, nil
}

// validName reports whether s is named as the CLI names services,
// operations and options: lower-case letters, digits and dashes, at most
// 128, not starting with a dash.
func validName(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// abbreviates reports whether name is a strict prefix of a global option:
// Python's argparse, which the CLI is built on, may read it as that
// option.
func abbreviates(name string) bool {
	for g := range globalOptions {
		if len(name) < len(g) && strings.HasPrefix(g, name) {
			return true
		}
	}
	return false
}

// options reads the operation's words: options with their values, and
// positional words.
func (a *AWS) options(words []string) error {
	var input []string // --cli-input-json, --cli-input-yaml
	current := ""      // the option whose values are being read
	var values []string
	flush := func() {
		switch len(values) {
		case 0:
			a.Parameters[current] = true
		case 1:
			a.Parameters[current] = values[0]
		default:
			a.Parameters[current] = slices.Clone(values)
		}
		current, values = "", nil
	}
	for _, w := range words {
		if strings.HasPrefix(w, "--") {
			if strings.ContainsAny(w, " \t\n\r") {
				// argparse reads such a word as positional.
				return errorf("an option word holds a blank")
			}
			if current != "" {
				flush()
			}
			name, value, inline := strings.Cut(w[2:], "=")
			if !validName(name) {
				return errorf("an option is not a name of lower-case letters, digits and dashes")
			}
			if _, dup := a.Parameters[name]; dup {
				return errorf("an option is given twice")
			}
			for _, o := range inputOptions {
				if len(name) < len(o) && strings.HasPrefix(o, name) && len(name) > len("cli-") {
					return errorf("an option abbreviates an input option")
				}
			}
			if name == "cli-input-json" || name == "cli-input-yaml" {
				input = append(input, name)
			}
			current = name
			if inline {
				values = append(values, value)
				flush()
			} else if a.Service == "s3" && s3Flags[name] {
				flush()
			}
			continue
		}
		if current == "" {
			a.Positional = append(a.Positional, w)
			continue
		}
		values = append(values, w)
	}
	if current != "" {
		flush()
	}
	for _, w := range a.Positional {
		if readsElsewhere(w) {
			return errorf("a word is read from a file or a URL, which cannot be judged")
		}
	}
	for _, v := range a.Parameters {
		values, _ := v.([]string)
		if s, ok := v.(string); ok {
			values = []string{s}
		}
		for _, s := range values {
			if readsElsewhere(s) {
				return errorf("an option's value is read from a file or a URL, which cannot be judged")
			}
		}
	}
	for _, name := range input {
		if err := a.input(name); err != nil {
			return err
		}
	}
	return nil
}

// input adds the members of --cli-input-json to the parameters, under the
// names the CLI gives them as options; --cli-input-yaml is refused.
func (a *AWS) input(option string) error {
	text, ok := a.Parameters[option].(string)
	if !ok {
		return errorf("an input option has no single value")
	}
	if option == "cli-input-yaml" {
		// YAML 1.1 and 1.2 read yes, on, 010 and duplicate keys
		// differently, and which one the CLI uses is its version's.
		return errorf("YAML input is not read, since YAML's versions read it differently")
	}
	doc := []byte(text)
	if err := strictjson.Check(doc, strictjson.Options{MaxDepth: maxDepth, ExactNumbers: true}); err != nil {
		return errorf("the input is not JSON that every parser reads alike")
	}
	v, err := codec.UnmarshalAny(doc)
	if err != nil {
		return errorf("the input is not JSON")
	}
	members, ok := v.(map[string]any)
	if !ok {
		return errorf("the input is not a JSON object")
	}
	for k, v := range members {
		name := optionName(k)
		if _, dup := a.Parameters[name]; dup {
			return errorf("an input member is also given as an option")
		}
		a.Parameters[name] = v
	}
	return nil
}

// inputOptions are the options whose value is the whole request: an
// abbreviation of one, which the CLI would read as it, is refused.
var inputOptions = []string{"cli-input-json", "cli-input-yaml", "generate-cli-skeleton"}

// readsElsewhere reports whether the CLI reads an option's value from
// elsewhere: a file (file://, fileb://) or, in CLI v1, a URL (http://,
// https://), whose content this reader cannot see.
func readsElsewhere(value string) bool {
	v := strings.ToLower(strings.TrimSpace(value))
	for _, scheme := range []string{"file://", "fileb://", "http://", "https://"} {
		if strings.HasPrefix(v, scheme) {
			return true
		}
	}
	return false
}

// optionName is the CLI option an API member is read from: botocore's
// xform_name with dashes (UserName: user-name, DBInstanceIdentifier:
// db-instance-identifier, GatewayARNs: gateway-arns), its three regular
// expressions applied as one pass each, so that a long name costs its
// length, not seconds.
func optionName(member string) string {
	if strings.Contains(member, "-") {
		return member
	}
	// [A-Z]{2,}s$: an acronym in the plural.
	if n := len(member); n >= 3 && member[n-1] == 's' {
		i := n - 1
		for i > 0 && isUpper(member[i-1]) {
			i--
		}
		if n-1-i >= 2 {
			member = member[:i] + "-" + strings.ToLower(member[i:])
		}
	}
	// (.)([A-Z][a-z]+) -> \1-\2, left to right, without overlap.
	var b strings.Builder
	last := 0 // where the next match may start
	for i := 1; i+1 < len(member); i++ {
		if i-1 < last || !isUpper(member[i]) || !isLower(member[i+1]) || member[i-1] == '\n' {
			continue
		}
		b.WriteString(member[last:i])
		b.WriteByte('-')
		j := i + 1
		for j < len(member) && isLower(member[j]) {
			j++
		}
		b.WriteString(member[i:j])
		last, i = j, j-1
	}
	b.WriteString(member[last:])
	s := b.String()
	// ([a-z0-9])([A-Z]) -> \1-\2, without overlap.
	b.Reset()
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if (isLower(s[i]) || s[i] >= '0' && s[i] <= '9') && i+1 < len(s) && isUpper(s[i+1]) {
			b.WriteByte('-')
			b.WriteByte(s[i+1])
			i++
		}
	}
	return strings.ToLower(b.String())
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }

// shellWords splits text into words as a POSIX shell does (Python's
// shlex.split, which AWS's MCP server uses), and refuses text a shell
// would read as more than one simple command or expand: |, &, ;, <, >, (,
// ), $, `, an unquoted line break, or a word starting with #.
func shellWords(text string) ([]string, error) {
	if len(text) > maxCommand {
		return nil, errorf("the command is longer than 64 KB")
	}
	if !utf8.ValidString(text) {
		return nil, errorf("the command is not valid UTF-8")
	}
	for i := 0; i < len(text); i++ {
		if c := text[i]; c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return nil, errorf("the command holds a control character")
		}
	}
	var words []string
	var word strings.Builder
	inWord := false
	end := func() error {
		if inWord {
			if len(words) == maxWords {
				return errorf("the command has more than 4,096 words")
			}
			words = append(words, word.String())
			word.Reset()
			inWord = false
		}
		return nil
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == ' ' || c == '\t':
			if err := end(); err != nil {
				return nil, err
			}
		case c == '\n' || c == '\r':
			return nil, errorf("the command holds a line break outside quotes")
		case strings.IndexByte("|&;<>()$`", c) >= 0:
			return nil, errorf("the command holds shell syntax outside quotes")
		case c == '#' && !inWord:
			return nil, errorf("a word starts with #, which a shell reads as a comment")
		case c == '\\':
			if i+1 == len(text) {
				return nil, errorf("the command ends with a backslash")
			}
			i++
			word.WriteByte(text[i])
			inWord = true
		case c == '\'':
			j := strings.IndexByte(text[i+1:], '\'')
			if j < 0 {
				return nil, errorf("a quote is not closed")
			}
			word.WriteString(text[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			inWord = true
			closed := false
			for i++; i < len(text); i++ {
				d := text[i]
				if d == '"' {
					closed = true
					break
				}
				if d == '$' || d == '`' {
					return nil, errorf("the command holds shell syntax inside double quotes")
				}
				if d == '\\' && i+1 < len(text) && (text[i+1] == '"' || text[i+1] == '\\') {
					i++
					d = text[i]
				}
				word.WriteByte(d)
			}
			if !closed {
				return nil, errorf("a quote is not closed")
			}
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if err := end(); err != nil {
		return nil, err
	}
	return words, nil
}
