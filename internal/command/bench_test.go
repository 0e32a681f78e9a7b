package command_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/command"
)

// BenchmarkParseAWS reads a typical command, and the longest one read (64
// KB of options and values).
func BenchmarkParseAWS(b *testing.B) {
	for _, c := range []struct{ name, text string }{
		{"typical", `aws --region eu-west-1 ec2 describe-instances --instance-ids i-1 i-2 --filters "Name=tag:team,Values=a b" --output json`},
		{"input-json", `aws iam create-user --cli-input-json '{"UserName": "x", "Tags": [{"Key": "a", "Value": "b"}]}'`},
		{"64KB", "aws ec2 describe-instances" + strings.Repeat(" --o x 'y z'", 64<<10/13)},
		// one member name of 64 KB, which botocore's regular expressions
		// took 20 ms to name
		{"64KB-member", `aws ec2 describe-instances --cli-input-json '{"` + strings.Repeat("Aa", 32<<10-40) + `": 1}'`},
		{"2500-members", `aws ec2 describe-instances --cli-input-json '{` + members(2500) + `}'`},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				command.ParseAWS(c.text)
			}
		})
	}
}

// members is n distinct JSON members.
func members(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"Member%dNameX": %d`, i, i)
	}
	return b.String()
}
