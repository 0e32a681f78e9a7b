package attributes

import (
	"strings"
	"testing"
)

// FuzzPlainWord: plainWord is a screen in front of the scan; no value it
// lets through may name a credential store once read in full.
func FuzzPlainWord(f *testing.F) {
	for _, s := range []string{"e{n,n}v", "e$()nv", "{s..s}et", "set", "ls; set", "uptime. set", "a.env", "x. .aws", "169.254.169.254", "2852039166",
		"The agent plans a migration. Then it ends.", "cat .env", "echo 'a'.'b'", "sh -c set", "0xa9fea9fe", "printenv.",
		"gh auth token", "169-254-169-254", "metadata.google.internal", "instance-data", "env", "config view --raw",
		// A cd past the scan's bound on a directory (maxDir) counts as a
		// store; CI's fuzzing found the first.
		"Cd A0A0A0A" + strings.Repeat("I", 4090), strings.Repeat("cd abcdefgh ", 500), strings.Repeat("pushd abcdefgh ", 400),
		strings.Repeat("--directory=abcdefgh ", 500), "tar -c ~" + strings.Repeat("a", 5000), "make -c~" + strings.Repeat("a", 5000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > maxStoreValue || !plainWord(s) {
			return // a longer value is a store before plainWord is asked
		}
		if scan(s, true, nil) {
			t.Errorf("plainWord(%q) lets through a value that names a credential store", s)
		}
	})
}

// FuzzCredentialStores: no value panics the scan, as a command, an argv
// or script lines, and each is judged the same twice (no state between
// calls).
func FuzzCredentialStores(f *testing.F) {
	for _, s := range []string{"e{n,n}v", "{1..9999999999}", "cd /etc && cat shadow", "$'\\x65'nv", "echo \"$(set)\"",
		"[[=e=]]nv", "curl http://[1-3:2].254/", "shopt -s extglob; cat ~/.@(aws)/x", "{,{,{,}}}", "\"$(", "`", "$'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, args := range []map[string]any{{"command": s}, {"argv": []any{"sh", "-c", s, 0}}, {"commands": []any{s, s}}} {
			a, b := CredentialStores(args), CredentialStores(args)
			if len(a) != len(b) {
				t.Fatalf("%q: %v then %v", s, a, b)
			}
		}
	})
}

// FuzzByteTests: the scan's byte loops answer as the strings functions
// they stand in for.
func FuzzByteTests(f *testing.F) {
	for _, s := range []string{"", "e?v", "2>", "12", "a<b>c", "[", "\xff*", "é;", "env>x", "{}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if hasGlob(s) != strings.ContainsAny(s, "*?[") {
			t.Errorf("hasGlob(%q)", s)
		}
		if allDigits(s) != (strings.Trim(s, "0123456789") == "") {
			t.Errorf("allDigits(%q)", s)
		}
		if indexRedirection(s) != strings.IndexAny(s, "<>") {
			t.Errorf("indexRedirection(%q)", s)
		}
		for _, r := range s + "\n" {
			if endsCommand(r) != strings.ContainsRune(";&|\n()`", r) || endsCommandOrBrace(r) != strings.ContainsRune(";&|\n()`{}", r) {
				t.Errorf("endsCommand(%q)", r)
			}
		}
	})
}
