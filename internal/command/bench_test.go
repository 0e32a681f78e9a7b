package command_test

import (
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
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				command.ParseAWS(c.text)
			}
		})
	}
}
