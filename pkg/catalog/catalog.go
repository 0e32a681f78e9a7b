// Package catalog holds a bundle's tool catalog: the risk of each tool, the
// operation class of tools whose name does not say it, and per-target
// environment overrides. It also classifies tool names into operations.
package catalog

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/toolgate/toolgate/pkg/mcp"
)

// Operation classes, from least to most dangerous. Unknown ranks between
// write and delete: a tool nobody classified is not assumed harmless.
const (
	OpRead    = "read"
	OpWrite   = "write"
	OpUnknown = "unknown"
	OpExecute = "execute"
	OpDelete  = "delete"
)

// Risk levels.
const (
	RiskLow      = "low"
	RiskMedium   = "medium"
	RiskHigh     = "high"
	RiskCritical = "critical"
)

// Kind and APIVersion identify a catalog document in a bundle.
const (
	APIVersion = "toolgate.dev/v1alpha1"
	Kind       = "ToolCatalog"
)

// Catalog is the spec of a ToolCatalog document. Tools is keyed by qualified
// name ("<target>___<tool>", or the bare name of a gateway tool such as the
// search tool); the key "<target>___*" sets the defaults of every tool of a
// target.
type Catalog struct {
	DefaultRisk string            `json:"defaultRisk,omitempty"`
	Targets     map[string]Target `json:"targets,omitempty"`
	Tools       map[string]Tool   `json:"tools,omitempty"`
}

// Target holds settings of one gateway target.
type Target struct {
	// Environment overrides the deployment's ENVIRONMENT for this target's
	// tools, for a gateway that fronts targets of several environments.
	Environment string `json:"environment,omitempty"`
}

// Tool holds what the catalog says about one tool (or one target's tools).
type Tool struct {
	Risk      string `json:"risk,omitempty"`
	Operation string `json:"operation,omitempty"`
}

// Entry is the catalog's resolved answer for one tool.
type Entry struct {
	Risk        string
	Operation   string
	Environment string // empty: use the deployment's environment
}

// Validate reports the first invalid value in the catalog.
func (c *Catalog) Validate() error {
	if c.DefaultRisk != "" && !validRisk(c.DefaultRisk) {
		return fmt.Errorf("defaultRisk %q: want one of low, medium, high, critical", c.DefaultRisk)
	}
	for name, t := range c.Tools {
		if t.Risk != "" && !validRisk(t.Risk) {
			return fmt.Errorf("tool %q: risk %q: want one of low, medium, high, critical", name, t.Risk)
		}
		switch t.Operation {
		case "", OpRead, OpWrite, OpDelete, OpExecute, OpUnknown:
		default:
			return fmt.Errorf("tool %q: operation %q: want one of read, write, delete, execute, unknown", name, t.Operation)
		}
	}
	return nil
}

func validRisk(r string) bool {
	switch r {
	case RiskLow, RiskMedium, RiskHigh, RiskCritical:
		return true
	}
	return false
}

// Lookup resolves a tool: an exact entry wins over the target's "___*" entry,
// which wins over the defaults (risk: DefaultRisk, else medium; operation:
// classified from the tool name). A nil catalog gives the defaults.
func (c *Catalog) Lookup(target, tool string) Entry {
	e := Entry{Risk: RiskMedium}
	if c == nil {
		e.Operation = Classify(tool)
		return e
	}
	if c.DefaultRisk != "" {
		e.Risk = c.DefaultRisk
	}
	e.Environment = c.Targets[target].Environment
	keys := []string{target + mcp.TargetSeparator + "*", target + mcp.TargetSeparator + tool}
	if target == "" {
		// The gateway's own tools have no target. A name that only looks
		// qualified ("___k8s___x") must not borrow a target's entries.
		keys = nil
		if !strings.Contains(tool, mcp.TargetSeparator) {
			keys = []string{tool}
		}
	}
	for _, key := range keys {
		t, ok := c.Tools[key]
		if !ok {
			continue
		}
		if t.Risk != "" {
			e.Risk = t.Risk
		}
		if t.Operation != "" {
			e.Operation = t.Operation
		}
	}
	if e.Operation == "" {
		e.Operation = Classify(tool)
	}
	return e
}

// verbs maps the words that start tool names to their operation class.
var verbs = map[string]string{}

func init() {
	for op, words := range map[string]string{
		OpRead:    "get list read describe search find fetch show view lookup query count head check status watch inspect browse download export retrieve scan explain",
		OpWrite:   "create put update write set add insert patch upload post send modify edit attach tag label enable disable rename copy move import append publish save merge commit comment assign approve reply schedule",
		OpExecute: "run exec execute invoke call trigger start stop restart reboot deploy eval evaluate shell command launch apply rollback scale sudo",
		OpDelete:  "delete remove destroy drop purge terminate truncate erase revoke uninstall kill wipe rm del unlink detach deregister reset clear cancel",
	} {
		for _, w := range strings.Fields(words) {
			verbs[w] = op
		}
	}
}

var rank = map[string]int{"": 0, OpRead: 1, OpWrite: 2, OpUnknown: 3, OpExecute: 4, OpDelete: 5}

// Classify derives an operation class from a tool name, case-insensitively.
// The name is split into words (at punctuation and camelCase boundaries) and
// the most dangerous verb among them wins, so "list_and_delete_pods" is a
// delete. A name with no known verb is unknown.
func Classify(tool string) string {
	best := ""
	for _, w := range words(tool) {
		if op, ok := verbs[w]; ok && rank[op] > rank[best] {
			best = op
		}
	}
	if best == "" {
		return OpUnknown
	}
	return best
}

// words splits an identifier into lower-case words.
func words(s string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	runes := []rune(s)
	for i, r := range runes {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && i > 0 && (unicode.IsLower(runes[i-1]) ||
			(i+1 < len(runes) && unicode.IsLower(runes[i+1]) && unicode.IsUpper(runes[i-1]))):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
	}
	flush()
	return out
}
