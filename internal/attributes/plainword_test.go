package attributes

import "testing"

// FuzzPlainWord: plainWord is a screen in front of the scan; no value it
// lets through may name a credential store once read in full.
func FuzzPlainWord(f *testing.F) {
	for _, s := range []string{"e{n,n}v", "e$()nv", "{s..s}et", "set", "ls; set", "uptime. set", "a.env", "x. .aws", "169.254.169.254", "2852039166",
		"The agent plans a migration. Then it ends.", "cat .env", "echo 'a'.'b'", "sh -c set", "0xa9fea9fe", "printenv.",
		"gh auth token", "169-254-169-254", "metadata.google.internal", "instance-data", "env", "config view --raw"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !plainWord(s) {
			return
		}
		if scan(s, true) {
			t.Errorf("plainWord(%q) lets through a value that names a credential store", s)
		}
	})
}
