package attributes

import (
	"bytes"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

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
	_, stores := scanArguments(args, nil)
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
	".vault-token", ".terraform.d/credentials", "/var/run/secrets", "/run/secrets",
	// Cloud instance and task metadata: the credentials of the machine's
	// role, by address (see linkLocal for its other spellings), name and
	// path.
	"[fd00:ec2:", "fd00:ec2:", "fd00:0ec2:", "ffff:a9fe:", "ffff:169.254.", "169.254.", "metadata.google.internal", "100.100.100.200", "instance-data", "169-254-",
	"/latest/meta-data", "/latest/api/token", "/latest/user-data", "security-credentials", "/computemetadata/",
	"/metadata/identity/oauth2", "/metadata/instance",
}

// credentialCommands are what a normalised command line holds when it
// prints credentials: the CLIs' own commands (see also printsCredentials).
var credentialCommands = []string{
	"printenv", "export-credentials", "configure get", "auth token", "print-access-token",
	"get-access-token", "get-login-password", "export -p",
}

// storeDirs are directories whose every file is a credential or a key:
// named as a path component (~/.aws, ~/.ssh/*, cd ~/.aws, ~/.a?s), they
// are a store themselves. homeDirs are such only in a home directory
// (~/.docker, not a project's .docker/Dockerfile).
var (
	storeDirs = []string{".aws", ".ssh", ".gnupg"}
	homeDirs  = []string{".docker", ".kube", ".azure", ".config/gcloud"}
	// storeNames are the names of both, as storeDir looks them up.
	storeNames = map[string]bool{".aws": true, ".ssh": true, ".gnupg": true, ".docker": true, ".kube": true, ".azure": true, ".config": true}
)

// maxStoreValue is the longest value read for a credential store; a
// longer one counts as naming one, since padding must not hide a path.
const maxStoreValue = 64 << 10

// namesCredentialStore reports whether s names a credential store, or,
// with commands, is a command that prints credentials. left, unless nil,
// is what is left of the call's budget of reading bytes (see
// maxCallReadings): the readings of s are spent from it.
func namesCredentialStore(s string, commands bool, left *int) bool {
	if len(s) > maxStoreValue {
		return true
	}
	if commands && strings.EqualFold(strings.TrimSpace(s), "set") {
		return true // the shell's variables, its environment among them
	}
	if len(s) < 3 || plainWord(s) {
		return false
	}
	return scan(s, commands, left)
}

// scan is namesCredentialStore without the screens in front of it: every
// reading of s (see readings) is looked at, and spent from left.
func scan(s string, commands bool, left *int) bool {
	wild := 0
	return anyReading(s, left, func(r string) bool {
		// Globs are matched component by component against every store's
		// path: their number, over all readings, is bounded like the
		// readings themselves, and past it the value counts as a store.
		if wild += strings.Count(r, "*") + strings.Count(r, "?") + strings.Count(r, "["); wild > maxWild {
			return true
		}
		return namesStore(r, commands)
	})
}

// anyReading reports whether check holds for a reading of s (see
// readings), spending the readings from left unless it is nil; it reports
// true, reading nothing more, when the readings pass their bounds or
// left's.
func anyReading(s string, left *int, check func(string) bool) bool {
	if left != nil && *left <= 0 {
		return true // the call's budget is spent: nothing more is read
	}
	rs, ok := readings(s)
	if !ok {
		return true // too many to read: the value must not buy its way past
	}
	if left != nil {
		for _, r := range rs {
			*left -= len(r)
		}
		if *left < 0 {
			return true // the call's arguments, together, are more than is read
		}
	}
	return slices.ContainsFunc(rs, check)
}

// maxCallReadings bounds the bytes of the readings of one call's
// arguments, together: a value's readings are bounded (1 MiB), and each is
// matched against every store, so a call of many hostile values must not
// add up to seconds. Past it the call's further values count as stores.
const maxCallReadings = 4 << 20

// maxWild bounds the glob characters of a value's readings, together.
const maxWild = 4096

// namesStore is namesCredentialStore on a normalised value.
func namesStore(n string, commands bool) bool {
	var seen bigrams
	seen.add(n)
	for _, p := range credentialPaths {
		if seen.has(p) && strings.Contains(n, p) {
			return true
		}
	}
	return environ(n) || dotEnv(n) || storeDir(n) || linkLocal(n) || credentialGlob(n) || commands && printsCredentials(n)
}

// printsCredentials reports whether the command line n prints
// credentials: the environment (see envCommand), or a CLI's credentials.
func printsCredentials(n string) bool {
	for _, c := range credentialCommands {
		if strings.Contains(n, c) {
			return true
		}
	}
	return envCommand(n) || strings.Contains(n, "config view") && strings.Contains(n, "--raw") || wordsInOrder(n)
}

// The tests below run on every character or word of a value that uses a
// command word as a word (2 KB of prose), where strings.ContainsRune,
// ContainsAny, IndexAny and Trim cost a call, or a set built, each.

// endsCommand reports whether r ends a command's words: ; & | newline
// ( ) and the backquote.
func endsCommand(r rune) bool {
	switch r {
	case ';', '&', '|', '\n', '(', ')', '`':
		return true
	}
	return false
}

// endsCommandOrBrace is endsCommand, braces included.
func endsCommandOrBrace(r rune) bool { return endsCommand(r) || r == '{' || r == '}' }

// hasGlob reports whether s has a glob character: * ? [.
func hasGlob(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '*' || c == '?' || c == '[' {
			return true
		}
	}
	return false
}

// allDigits reports whether s is ASCII digits only (or empty).
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigitByte(s[i]) {
			return false
		}
	}
	return true
}

// indexRedirection returns the index of the first < or > in s, or -1.
func indexRedirection(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '<' || s[i] == '>' {
			return i
		}
	}
	return -1
}

// inOrder are commands that print credentials as words in order within
// one command, options between them allowed (aws configure --profile p
// get ..., kubectl config --context=x view --raw, gh auth --hostname h
// token), which credentialCommands find only side by side.
var inOrder = [][]string{{"configure", "get"}, {"configure", "export-credentials"}, {"config", "view", "--raw"}, {"auth", "token"}}

// wordsInOrder reports whether a command segment of n has the words of
// one of inOrder, in order.
func wordsInOrder(n string) bool {
	if !strings.Contains(n, "config") && !strings.Contains(n, "auth") {
		return false
	}
	for seg := range strings.FieldsFuncSeq(n, endsCommand) {
		words := strings.Fields(seg)
		for _, want := range inOrder {
			k := 0
			for _, w := range words {
				if k < len(want) && (w == want[k] || k == len(want)-1 && strings.HasPrefix(w, want[k]+"=")) {
					k++
				}
			}
			if k == len(want) {
				return true
			}
		}
	}
	return false
}

// plainWord reports whether s is ASCII with nothing a credential path,
// address or command has: no "/", ":" or backslash, no "." but one that
// ends a sentence (before a blank or at the end: every path and address
// with a dot has something after it, and normalising keeps the blank), no
// run of 8 digits (an address in decimal), no "~", none of the words of
// the commands that print credentials or change directory, read without
// quotes as a shell reads them (e"nv" is env). Most arguments are, prose
// included, and cost no normalising. FuzzPlainWord holds it to the full
// scan, which follows a cd and counts one past its bound (maxDir) as a
// store: so a text that may cd is never plain.
func plainWord(s string) bool {
	// s in lower case, on the stack when short, for the words.
	var buf [1024]byte
	lower := buf[:0]
	if len(s) > len(buf) {
		lower = make([]byte, 0, len(s))
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' && (i+1 == len(s) || s[i+1] == ' ' || s[i+1] == '\t' || s[i+1] == '\n') {
			digits = 0
			lower = append(lower, c)
			continue
		}
		if c >= 0x80 || c == '.' || c == '/' || c == ':' || c == '\\' || c == '?' || c == '*' || c == '[' || c == '{' || c == '$' || c == '`' || c == '~' {
			return false
		}
		if c == '"' || c == '\'' {
			continue // a shell drops quotes: e"nv" runs env
		}
		if c >= '0' && c <= '9' {
			if digits++; digits >= 8 {
				return false
			}
		} else {
			digits = 0
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower = append(lower, c)
	}
	for i := 0; i+1 < len(lower); i++ {
		if !commandPairs.has(lower[i], lower[i+1]) {
			continue
		}
		for _, w := range commandWordsFrom[lower[i]] {
			if bytes.HasPrefix(lower[i:], w) {
				return false
			}
		}
	}
	return true
}

// commandWords are the words (in lower case) and characters of the
// commands and globs namesCredentialStore looks for, and the words with
// which resolved follows a change of directory.
var commandWords = []string{"env", "export", "declare", "set", "auth", "config", "token", "credential", "secret", "password", "instance", "0x", "?", "*", "[",
	"cd", "pushd", "--directory", // -c follows a directory only when it starts with "/", "~" or "."
	"169-254-"} // and the one credential path with no ".", "/" or ":", a metadata address as a name

// commandWordsFrom are the commandWords of two bytes or more by their
// first byte, and commandPairs their first two: plainWord reads a text
// once, trying a word only where its first two bytes are (bytes.Index
// would restart at every "e" of a text for "env"). The one-byte words are
// plainWord's own test.
var (
	commandWordsFrom [256][][]byte
	commandPairs     pairSet
)

func init() {
	for _, w := range commandWords {
		if len(w) > 1 {
			commandWordsFrom[w[0]] = append(commandWordsFrom[w[0]], []byte(w))
			commandPairs.add(w[0], w[1])
		}
	}
}

// pairSet is a set of byte pairs.
type pairSet [1024]uint64

func (p *pairSet) add(a, b byte) { k := uint16(a)<<8 | uint16(b); p[k>>6] |= 1 << (k & 63) }

func (p *pairSet) has(a, b byte) bool {
	k := uint16(a)<<8 | uint16(b)
	return p[k>>6]&(1<<(k&63)) != 0
}

// environ reports whether n names a process's environment file,
// /proc/<pid>/environ, as a whole path component, or a glob or prefix
// of it under /proc (/proc/self/env*).
func environ(n string) bool {
	if !strings.Contains(n, "/environ") && !strings.Contains(n, "/proc") && !strings.Contains(n, "/dev/fd") {
		return false // /dev/fd/.. is /proc/self
	}
	for i := 0; ; {
		k := strings.Index(n[i:], "/environ")
		if k < 0 {
			break
		}
		i += k + len("/environ")
		if i == len(n) || pathBoundary(n[i]) {
			return true
		}
	}
	for _, f := range fields(n) {
		if rest, ok := strings.CutPrefix(f, "/proc/"); ok && (strings.ContainsAny(rest, "*?[") || strings.Contains(rest, "/env")) {
			return true
		}
	}
	// cd /proc/self && cat environ (or env*), /dev/fd/../[e]nviron
	if strings.Contains(n, "/proc") || strings.Contains(n, "/dev/fd") {
		for _, f := range fields(n) {
			if globMatch(f[strings.LastIndexByte(f, '/')+1:], "environ") {
				return true
			}
		}
	}
	return false
}

// bashClass is a bash character class in a glob ([[:alpha:]]), and
// bashBracket one with a class, an equivalence class or a collating
// symbol in it ([[:alpha:]x], [[=e=]], [[.a.]]).
var (
	bashClass   = regexp.MustCompile(`\[\[:[a-z]+:\]\]`)
	bashBracket = regexp.MustCompile(`\[[^\]]*\[[:=.][^\]]*[:=.]\][^\]]*\]`)
)

// bashGlob rewrites bash's glob syntax as path.Match reads it: [!x] as
// [^x], a bracket with a class, an equivalence class or a collating
// symbol in it as ?, which errs toward a match.
func bashGlob(p string) string {
	if !strings.ContainsRune(p, '[') {
		return p
	}
	if strings.Contains(p, "[:") || strings.Contains(p, "[=") || strings.Contains(p, "[.") {
		p = bashClass.ReplaceAllString(p, "?")
		p = bashBracket.ReplaceAllString(p, "?")
	}
	return strings.ReplaceAll(p, "[!", "[^")
}

// globMatch reports whether the bash glob pattern matches name, as bash
// matches a file name: a name that starts with "." only by a pattern that
// does too (so * is not .env).
func globMatch(pattern, name string) bool {
	if strings.HasPrefix(name, ".") && !strings.HasPrefix(pattern, ".") {
		return false
	}
	if !strings.ContainsAny(pattern, "*?[\\") {
		return pattern == name
	}
	ok, err := path.Match(bashGlob(pattern), name)
	if err != nil {
		// A bracket bash reads and Go cannot ([]a], [a-]) errs toward a
		// match; a "[" that nothing closes is a plain character to bash.
		k := strings.IndexByte(pattern, '[')
		return k >= 0 && strings.Contains(pattern[k+1:], "]")
	}
	return ok
}

// storeDir reports whether a path in n has a component that is a store
// directory (see storeDirs), also as a glob ("~/.a?s", "~/.[a]ws"; braces
// are expanded by the readings) or named alone (tar c .ssh), or a home
// directory's (see homeDirs; ~ and ~user are homes).
func storeDir(n string) bool {
	if !strings.ContainsRune(n, '.') {
		return false // every store directory's name starts with one
	}
	for _, f := range fields(n) {
		if !strings.ContainsRune(f, '.') {
			continue
		}
		parts := strings.Split(f, "/")
		for i, c := range parts {
			if c = collapseStars(c); len(c) > maxComponent {
				continue // longer than a glob of any store directory's name can be
			}
			glob := strings.ContainsAny(c, "*?[")
			if !glob && !storeNames[c] {
				continue // a plain name is a store directory's, or no store's
			}
			for _, d := range storeDirs {
				if globMatch(c, d) {
					return true
				}
			}
			home := i > 0 && (strings.HasPrefix(parts[i-1], "~") || parts[i-1] == "$home" || parts[i-1] == "${home}" || parts[i-1] == "root" ||
				i > 1 && parts[i-2] == "home")
			for _, d := range homeDirs {
				first, rest, _ := strings.Cut(d, "/")
				if home && globMatch(c, first) && (rest == "" || i+1 < len(parts) && parts[i+1] == rest) {
					return true
				}
			}
		}
	}
	return false
}

// envCommand reports whether a command in n prints the environment: env
// with nothing after it but options and assignments (env, sh -c env, sudo
// env -u HOME, env>/tmp/e), printenv (also as a glob), set alone, export,
// declare or typeset with nothing but options (not -f, which lists
// functions), each where it runs as a command (see runner): a glob
// (/usr/bin/e?v) only there or as a path.
// printers reads what echo and printf print as a script, for envCommand;
// built once, as a Replacer builds its tables on first use.
var printers = strings.NewReplacer("echo ", "; ", "printf ", "; ")

func envCommand(n string) bool {
	if !strings.Contains(n, "env") && !strings.Contains(n, "export") && !strings.Contains(n, "declare") && !strings.Contains(n, "set") &&
		!strings.ContainsAny(n, "*?[") {
		return false
	}
	n = strings.ReplaceAll(n, "<<<", ";") // a here-string is a script a shell may run
	n = strings.ReplaceAll(n, ">|", ">")  // clobbering is a redirection, not a pipe
	if feedsShell(n) {
		// echo set | bash: what echo and printf print is the script.
		n = printers.Replace(n)
	}
	for seg := range strings.FieldsFuncSeq(n, endsCommandOrBrace) {
		w := segmentWords(seg)
		prints, opts := suffixes(w)
		var run runner
		for i, word := range w {
			ok, script := run.next(word)
			base := word
			if k := strings.LastIndexByte(word, '/'); k >= 0 && word[0] != '-' {
				base = word[k+1:] // /usr/bin/env
			}
			// A glob with a literal character names a command where it
			// runs, or as a path (/usr/bin/e?v; not *, not ls p*).
			glob := hasGlob(base) && strings.Trim(base, "*?[]!^-") != "" && (ok || strings.Contains(word, "/"))
			if base == "printenv" || glob && globMatch(base, "printenv") {
				return true
			}
			if glob && globMatch(base, "env") {
				base = "env"
			}
			// After sh -c's script come its $0 and arguments: nothing of
			// the command's own.
			last := i+1 == len(w) || script
			switch base {
			case "env":
				if script || prints[i+1] {
					return true
				}
			case "set":
				if ok && last {
					return true
				}
			case "export", "declare", "typeset":
				if ok && (script || opts[i+1]) {
					return true
				}
			}
		}
	}
	return false
}

// feedsShell reports whether what echo or printf print in n is run: piped
// into a shell, read by a source from a substitution (echo set | bash,
// source <(echo set)), or substituted as a command ($(echo set)).
func feedsShell(n string) bool {
	if !strings.Contains(n, "echo") && !strings.Contains(n, "printf") {
		return false
	}
	if strings.Contains(n, "(echo") || strings.Contains(n, ";echo") || strings.Contains(n, "(printf") {
		return true // $(echo set), `echo set`: the word substituted is run
	}
	for sh := range shells {
		if strings.Contains(n, "| "+sh) || strings.Contains(n, "|"+sh) || strings.Contains(n, "xargs "+sh) {
			return true
		}
	}
	return strings.Contains(n, "<(")
}

// segmentWords are the words of a command segment, without its
// redirections: "2>/dev/null", "> x" and the ">x" of "env>x" go.
func segmentWords(seg string) []string {
	var w []string
	fs := strings.Fields(seg)
	for i := 0; i < len(fs); i++ {
		f := fs[i]
		k := indexRedirection(f)
		if k < 0 {
			w = append(w, f)
			continue
		}
		if strings.Trim(f[:k], "0123456789") != "" {
			w = append(w, f[:k]) // env>/tmp/e
		} else if strings.Trim(f[k:], "<>&") == "" {
			i++ // "2>" then its target
		}
	}
	return w
}

// runner follows the words of one command segment, to tell which of them
// run as a command: a word runs when every word before it is an
// assignment (FOO=1, A+=1, A[0]=1), an option, a keyword or a command
// that runs the word after it (if, then, eval, command, time, sudo...),
// or a shell; and, whatever came before, when it follows a -c option of
// a shell named earlier (nice -n 5 bash -c set). A word after a shell's
// -c is its script, and the words after the script its arguments. It
// errs toward yes, and reads each word once.
type runner struct {
	broken bool // a word that runs nothing after it came
	shell  bool // a shell was named
	afterC bool // the last word was a shell's -c option
	script bool // a shell's -c came before
}

// next reads the next word: whether it runs, and whether it is (or
// follows) a shell's script.
func (r *runner) next(w string) (runs, script bool) {
	runs, script = !r.broken || r.afterC, r.script
	r.afterC = false
	base := w[strings.LastIndexByte(w, '/')+1:]
	switch {
	case shells[base]:
		r.shell = true
	case strings.HasPrefix(w, "-") || strings.HasPrefix(w, "+"):
		if r.shell && !strings.HasPrefix(w, "--") && strings.Contains(w, "c") {
			r.script, r.afterC = true, true
		}
	case runners[base], assignment(w):
	default:
		r.broken = true
	}
	return runs, script
}

// shells run the script their -c option gives; runners run the word after
// them (and their options).
var (
	shells = map[string]bool{"sh": true, "bash": true, "rbash": true, "dash": true, "zsh": true, "ksh": true, "ash": true, "mksh": true,
		"busybox": true, "su": true}
	runners = map[string]bool{"eval": true, "command": true, "builtin": true, "exec": true, "if": true, "then": true, "elif": true, "else": true,
		"while": true, "until": true, "do": true, "time": true, "!": true, "sudo": true, "doas": true, "nohup": true, "nice": true, "xargs": true,
		"timeout": true, "setsid": true, "stdbuf": true, "chroot": true, "coproc": true, "env": true}
)

// assignment reports whether w assigns a variable (NAME=value, NAME+=v,
// NAME[i]=v).
func assignment(w string) bool {
	k := strings.IndexByte(w, '=')
	if k <= 0 {
		return false
	}
	name := strings.TrimSuffix(w[:k], "+")
	if b := strings.IndexByte(name, '['); b > 0 && strings.HasSuffix(name, "]") {
		name = name[:b]
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return name != ""
}

// suffixes reads the words of a segment once, from the end: prints[i]
// says whether env followed by w[i:] runs no command (only options, the
// names -u unsets and the directories -C changes to, assignments,
// descriptors of redirections, or a comment follow it), and opts[i]
// whether w[i:] are options only (see options). Each has len(w)+1 items.
func suffixes(w []string) (prints, opts []bool) {
	prints, opts = make([]bool, len(w)+1), make([]bool, len(w)+1)
	prints[len(w)], opts[len(w)] = true, true
	for i := len(w) - 1; i >= 0; i-- {
		a := w[i]
		switch {
		case strings.HasPrefix(a, "#"):
			prints[i] = true // a comment: nothing runs after it
		case allDigits(a):
			prints[i] = prints[i+1] // a redirection's descriptor (env 2>/dev/null)
		case a == "-u" || a == "--unset" || a == "-c" || a == "--chdir":
			prints[i] = i+2 > len(w) || prints[i+2] // its argument
		case strings.HasPrefix(a, "-") || strings.Contains(a, "="):
			prints[i] = prints[i+1]
		}
		opts[i] = opts[i+1] && (strings.HasPrefix(a, "-") || strings.HasPrefix(a, "+")) && !strings.ContainsAny(a, "fF")
	}
	return prints, opts
}

// linkLocal reports whether n holds an address in 169.254.0.0/16 (the
// instance metadata and task credential endpoints) in any form a C
// resolver reads (inet_aton): dotted, decimal (2852039166), hex
// (0xa9fea9fe, 0xa9.0xfe.0xa9.0xfe), octal (0251.0376.0251.0376,
// 025177524776), with fewer parts (169.254.43518, 169.16689662), or
// mapped into IPv6 (::ffff:169.254.169.254, ::ffff:a9fe:a9fe).
func linkLocal(n string) bool {
	for i := 0; i < len(n); {
		// An address starts with a digit, not inside a word.
		if !isDigitByte(n[i]) || (i > 0 && (isAddrChar(n[i-1]) || n[i-1] >= 'g' && n[i-1] <= 'z')) {
			i++
			continue
		}
		j := i
		for j < len(n) && isAddrChar(n[j]) {
			j++
		}
		if a, ok := inetAton(strings.TrimRight(n[i:j], ".")); ok && a>>16 == 0xa9fe {
			return true
		}
		i = j
	}
	if k := strings.Index(n, "::ffff:"); k >= 0 {
		rest := n[k+len("::ffff:"):]
		j := 0
		for j < len(rest) && isAddrChar(rest[j]) {
			j++
		}
		if a, ok := inetAton(strings.TrimRight(rest[:j], ".")); ok && a>>16 == 0xa9fe || strings.HasPrefix(rest, "a9fe:") {
			return true
		}
	}
	return false
}

func isAddrChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == 'x' || c == '.'
}

func isDigitByte(c byte) bool { return c >= '0' && c <= '9' }

// inetAton parses an IPv4 address as inet_aton does: one to four parts,
// each decimal, octal (0...) or hex (0x...), the last filling the bytes
// left. It allocates nothing: it runs on every word of an argument that
// starts with a digit.
func inetAton(s string) (uint32, bool) {
	var vals [4]uint64
	n := 0
	for len(s) > 0 {
		if n == 4 {
			return 0, false
		}
		part := s
		if k := strings.IndexByte(s, '.'); k >= 0 {
			part, s = s[:k], s[k+1:]
			if s == "" {
				return 0, false
			}
		} else {
			s = ""
		}
		base := uint64(10)
		switch {
		case len(part) > 2 && part[0] == '0' && part[1] == 'x':
			base, part = 16, part[2:]
		case len(part) > 1 && part[0] == '0':
			base, part = 8, part[1:]
		}
		part = strings.TrimLeft(part, "0") // 0x0000a9fea9fe, 000251
		if part == "" {
			part = "0"
		}
		if len(part) > 12 {
			return 0, false
		}
		var v uint64
		for i := 0; i < len(part); i++ {
			c := part[i]
			var d uint64
			switch {
			case c >= '0' && c <= '9':
				d = uint64(c - '0')
			case c >= 'a' && c <= 'f':
				d = uint64(c-'a') + 10
			default:
				return 0, false
			}
			if d >= base {
				return 0, false
			}
			v = v*base + d
		}
		vals[n] = v
		n++
	}
	if n == 0 {
		return 0, false
	}
	var a uint64
	for i := range n - 1 {
		if vals[i] > 255 {
			return 0, false
		}
		a |= vals[i] << (24 - 8*i)
	}
	if last := vals[n-1]; last < 1<<(32-8*(n-1)) {
		return uint32(a | last), true
	}
	return 0, false
}

// fields splits n at white space and "=", as a command line's words and
// an assignment's value.
func fields(n string) []string {
	return strings.FieldsFunc(n, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '=' || r == ';' || r == '&' || r == '|' || r == '<' || r == '>' || r == '(' || r == ')'
	})
}

// naiveNormal folds s as the scan first read values: look-alikes folded,
// lower case, every quote, backslash and backquote dropped (a backslash
// before a line break continues the line), "//" and "/./" collapsed. It
// stays one of a value's readings (see readings) beside shellNormal's,
// which reads quotes as bash does: what either finds is found.
func naiveNormal(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
			r = unicode.ToLower(fold.Rune(r))
		}
		i += size
		switch {
		case r == '\\' && i < len(s) && s[i] == '\n':
			i++ // a continued line
			continue
		case r == '"' || r == '\'' || r == '\\' || r == '`':
			continue
		case r >= 'A' && r <= 'Z':
			r += 'a' - 'A'
		case r == '/' && strings.HasSuffix(b.String(), "/"):
			continue // "//"
		case (r == ' ' || r == '\t') && strings.HasSuffix(b.String(), " "):
			continue // one space for many
		case r == '\t':
			r = ' '
		}
		b.WriteRune(r)
	}
	return collapseDots(b.String())
}

// collapseDots replaces every "/./" of s with "/".
func collapseDots(s string) string {
	for strings.Contains(s, "/./") {
		s = strings.ReplaceAll(s, "/./", "/")
	}
	return s
}

// bigrams is a set of the byte pairs of a text (hashed to 4,096 bits): a
// pattern whose first pair the text lacks is not searched for.
type bigrams [64]uint64

func bigram(a, b byte) uint16 { return (uint16(a)*31 + uint16(b)) & 4095 }

func (g *bigrams) add(s string) {
	for i := 0; i+1 < len(s); i++ {
		h := bigram(s[i], s[i+1])
		g[h>>6] |= 1 << (h & 63)
	}
}

func (g *bigrams) has(p string) bool {
	if len(p) < 2 {
		return true
	}
	h := bigram(p[0], p[1])
	return g[h>>6]&(1<<(h&63)) != 0
}

// dotEnv reports whether n holds a path component ".env" or ".env.<name>"
// (.env.local, .env.production).
func dotEnv(n string) bool {
	if strings.ContainsAny(n, "*?[") {
		for _, f := range fields(n) {
			if globMatch(f[strings.LastIndexByte(f, '/')+1:], ".env") && strings.ContainsAny(f, "*?[") {
				return true // .env*, .en?
			}
		}
	}
	for i := 0; ; {
		k := strings.Index(n[i:], ".env")
		if k < 0 {
			return false
		}
		k += i
		i = k + len(".env")
		if k > 0 && !pathBoundary(n[k-1]) && !(k > 1 && n[k-2] == '-' && isLetter(n[k-1])) {
			continue // my.env is not the project's .env (but xargs -a.env reads it)
		}
		if i == len(n) || pathBoundary(n[i]) {
			return true
		}
		if n[i] == '.' {
			// .env.local, .env.production; not a template's example.
			suffix := n[i+1:]
			if j := strings.IndexFunc(suffix, func(r rune) bool { return r > 0x7f || pathBoundary(byte(r)) }); j >= 0 {
				suffix = suffix[:j]
			}
			if !slices.Contains([]string{"example", "sample", "template", "dist", "defaults"}, suffix) {
				return true
			}
		}
	}
}

func pathBoundary(c byte) bool { return strings.IndexByte("/ \t\n=:;|&<>(){}@", c) >= 0 }

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
		if globPath(field) {
			return true
		}
	}
	return false
}

// maxComponent is the longest path component a glob is matched as: no
// name in credentialPaths or storeDirs is near it once runs of "*" are one.
const maxComponent = 128

// collapseStars writes each run of "*" in a glob as one "*", which matches
// the same names.
func collapseStars(s string) string {
	for strings.Contains(s, "**") {
		s = strings.ReplaceAll(s, "**", "*")
	}
	return s
}

// globPaths are the credentialPaths that are paths, split into their
// components, for globPath; absolute ones start with "".
var globPaths = func() (out [][]string) {
	for _, p := range credentialPaths {
		if strings.HasPrefix(p, "/") || strings.HasPrefix(p, ".") && !strings.HasSuffix(p, "_") {
			out = append(out, strings.Split(strings.TrimSuffix(p, "/"), "/"))
		}
	}
	return out
}()

// globPath reports whether some of the path components of field, a glob
// (/etc/[s]hadow, ~/.netr?, /etc/*adow), match a credential path's, as
// bash would match them to files: an absolute path from its start, a
// relative one anywhere. A window of components with no literal
// character in it (*/*) matches nothing: it names no store in
// particular.
func globPath(field string) bool {
	fc := strings.Split(field, "/")
	for k := range fc {
		if fc[k] = collapseStars(fc[k]); len(fc[k]) > maxComponent {
			fc[k] = "" // matches no component of a credential path
		}
	}
	var wild []int // the components with a glob: a window without one is a plain path, found as such
	for k, c := range fc {
		if strings.ContainsAny(c, "*?[") {
			wild = append(wild, k)
		}
	}
	for _, pc := range globPaths {
		for _, w := range wild {
			for start := max(0, w-len(pc)+1); start <= w && start+len(pc) <= len(fc); start++ {
				if globWindow(fc, pc, start) {
					return true
				}
			}
		}
	}
	return false
}

// globWindow reports whether the components of fc from start match the
// credential path pc (see globPath).
func globWindow(fc, pc []string, start int) bool {
	if pc[0] == "" && start > 0 {
		return false // absolute: from the field's start only
	}
	literal := false
	for k, c := range pc {
		f := fc[start+k]
		if !globMatch(f, c) {
			return false
		}
		literal = literal || strings.Trim(f, "*?[]!^-") != ""
	}
	return literal
}
