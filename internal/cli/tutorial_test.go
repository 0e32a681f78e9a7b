package cli_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTutorial runs every toolgate command of docs/first-bundle.md, in
// order, in an empty directory, and requires each to succeed, so the
// tutorial cannot drift from the tool.
func TestTutorial(t *testing.T) {
	page, err := os.ReadFile("../../docs/first-bundle.md")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	var commands []string
	inShell := false
	sc := bufio.NewScanner(strings.NewReader(string(page)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```"):
			inShell = line == "```sh"
		case inShell && strings.HasPrefix(line, "go run ./cmd/toolgate "):
			commands = append(commands, strings.TrimPrefix(line, "go run ./cmd/toolgate "))
		}
	}
	if len(commands) < 5 {
		t.Fatalf("%d commands found", len(commands))
	}
	for _, c := range commands {
		args, redirect := shellWords(t, c)
		code, out, errOut := run(args...)
		if code != 0 {
			t.Fatalf("toolgate %s: exit %d\n%s%s", c, code, out, errOut)
		}
		if redirect != "" {
			if err := os.WriteFile(redirect, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// What the page says of the delete, and of a typo.
	code, out, _ := run("explain", "-policies", "my-bundle", "delete.json")
	if code != 0 || !strings.Contains(out, "FAIL  crm-access/no-deletes-in-production") {
		t.Errorf("explain: %s", out)
	}
	policy := filepath.Join("my-bundle", "crm-access.yaml")
	data, _ := os.ReadFile(policy)
	typo := strings.Replace(string(data), "environment: production", "enviroment: production", 1)
	if err := os.WriteFile(policy, []byte(typo), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "crm-access.yaml:24:9: policy crm-access: `enviroment` is not a member of the document (did you mean `environment`?)"
	if code, _, errOut := run("validate", "my-bundle"); code != 1 || !strings.Contains(errOut, want) || !strings.Contains(string(page), want) {
		t.Errorf("the typo: exit %d\n%s\nwant, as the page says: %s", code, errOut, want)
	}
}

// shellWords splits a command line as sh would the tutorial's: words,
// single-quoted words, and a final "> FILE".
func shellWords(t *testing.T, line string) (args []string, redirect string) {
	t.Helper()
	var word strings.Builder
	inWord, quoted := false, false
	for _, r := range line + " " {
		switch {
		case r == '\'':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				args = append(args, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if n := len(args); n >= 2 && args[n-2] == ">" {
		return args[:n-2], args[n-1]
	}
	return args, ""
}
