// Package command reads a command line that a tool carries in one of its
// arguments (AWS's managed MCP server runs `aws ...` from call_aws's
// cli_command) into what a policy judges: which service and operation,
// of which class, with which parameters. A catalog entry names the tool,
// the argument and the command's dialect; a command that does not read as
// exactly one command of its dialect is reported as not parsed, and the
// default bundle denies it.
package command

import (
	"errors"
	"fmt"
)

// Dialects a catalog may name.
const (
	DialectAWS = "aws" // the AWS CLI, v1 and v2
)

// Known reports whether dialect is one this package reads.
func Known(dialect string) bool { return dialect == DialectAWS }

// Command is what the document says of a tool call's command (tool.command).
type Command struct {
	// Dialect is the catalog's dialect of the tool's command; "" when the
	// tool carries none (and every other field is empty).
	Dialect string `json:"dialect"`
	// Argument is the name of the argument that holds the command.
	Argument string `json:"argument"`
	// Parsed is true when the argument reads as exactly one command of the
	// dialect.
	Parsed bool `json:"parsed"`
	// Error says why it does not, in words of this package's, never
	// quoting the command; "" when parsed.
	Error string `json:"error"`
	// AWS is the command of dialect aws.
	AWS AWS `json:"aws"`
}

// Read reads args[argument] as a command of dialect. The result is never
// an error: a command that cannot be read is a Command with Parsed false.
func Read(dialect, argument string, args map[string]any) Command {
	c := Command{Dialect: dialect, Argument: argument, AWS: none.AWS} // the empty one, shared
	v, ok := args[argument]
	if !ok {
		c.Error = "the command argument is missing"
		return c
	}
	text, ok := v.(string)
	if !ok {
		c.Error = "the command argument is not a string"
		return c
	}
	var err error
	switch dialect {
	case DialectAWS:
		c.AWS, err = ParseAWS(text)
	default:
		err = fmt.Errorf("no reader for dialect %q", dialect)
	}
	if err != nil {
		c.AWS, c.Error = none.AWS, err.Error()
		return c
	}
	c.Parsed = true
	return c
}

// None is the command of a tool that carries none. Its maps and list are
// shared by every such command, and never written.
func None() Command { return none }

var none = Command{AWS: emptyAWS()}

// errorf is an error of this package: its text is fixed words and never
// the command's.
func errorf(text string) error { return errors.New(text) }
