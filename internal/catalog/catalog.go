// Package catalog holds a bundle's tool catalog: the risk of each tool, the
// operation class of tools whose name does not say it, and per-target
// environment overrides. It also classifies tool names into operations.
package catalog

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"

	"github.com/toolgate/toolgate/internal/command"
	"github.com/toolgate/toolgate/internal/mcp"
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

// Catalog is the spec of a ToolCatalog document. Tools is keyed by qualified
// name ("<target>___<tool>", or the bare name of a gateway tool such as the
// search tool); the key "<target>___*" sets the defaults of every tool of a
// target.
type Catalog struct {
	DefaultRisk string            `json:"defaultRisk,omitempty"`
	Targets     map[string]Target `json:"targets,omitempty"`
	Tools       map[string]Tool   `json:"tools,omitempty"`
	// Environments, when set, are every environment the bundle knows: a
	// policy or a target that names another fails to load, and a
	// deployment whose ENVIRONMENT is another denies every call.
	Environments []string `json:"environments,omitempty"`
	// Claims, when set, are every token claim the policies read
	// (principal.claims.<name>): reading another fails to load. Unset, such
	// reads are warned of.
	Claims []string `json:"claims,omitempty"`
	// folded holds the command entries by their keys in lower case (see
	// Lookup); Validate builds it.
	folded map[string]*Command
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
	// Labels describe what the tool touches (private-data,
	// untrusted-content, external-communication, destructive...): a
	// target's labels and the tool's own add up. Session policies read the
	// labels a session has seen.
	Labels []string `json:"labels,omitempty"`
	// Command, when set, names the argument that holds a command line the
	// tool runs, and its dialect (aws): the document then says what the
	// command does (tool.command).
	Command *Command `json:"command,omitempty"`
}

// Command names the argument of a tool that holds a command line, and the
// command's dialect (see package command).
type Command struct {
	Argument string `json:"argument"`
	Dialect  string `json:"dialect"`
}

// Entry is the catalog's resolved answer for one tool.
type Entry struct {
	Risk        string
	Operation   string
	Environment string   // empty: use the deployment's environment
	Labels      []string // sorted, never nil
	Command     *Command // nil when the tool carries no command
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
		for _, l := range t.Labels {
			if !validLabel.MatchString(l) {
				return fmt.Errorf("tool %q: label %q: want lower-case letters, digits and dashes", name, l)
			}
		}
		if c := t.Command; c != nil {
			if !command.Known(c.Dialect) {
				return fmt.Errorf("tool %q: command dialect %q: want %s", name, c.Dialect, command.DialectAWS)
			}
			if c.Argument == "" {
				return fmt.Errorf("tool %q: command: name the argument that holds the command", name)
			}
		}
	}
	if c.Environments != nil && len(c.Environments) == 0 {
		return fmt.Errorf("environments: empty: name the environments the bundle knows, or leave it out")
	}
	for _, env := range c.Environments {
		if !ValidEnvironment(env) {
			return fmt.Errorf("environments: %q: want lower-case letters, digits and dashes (policies compare names exactly: \"Production\" is not production)", env)
		}
	}
	for name, t := range c.Targets {
		if t.Environment != "" && !ValidEnvironment(t.Environment) {
			return fmt.Errorf("target %q: environment %q: want lower-case letters, digits and dashes (policies compare names exactly: \"Production\" is not production)", name, t.Environment)
		}
		if t.Environment != "" && !c.KnowsEnvironment(t.Environment) {
			return fmt.Errorf("target %q: environment %q is not one of environments (%s)", name, t.Environment, strings.Join(c.Environments, ", "))
		}
	}
	for _, claim := range c.Claims {
		if claim == "" {
			return fmt.Errorf("claims: an empty name")
		}
	}
	c.folded = c.foldCommands()
	return nil
}

// foldCommands indexes the entries that carry a command by their keys in
// lower case.
func (c *Catalog) foldCommands() map[string]*Command {
	folded := map[string]*Command{}
	for key, t := range c.Tools {
		if t.Command != nil {
			folded[strings.ToLower(key)] = t.Command
		}
	}
	return folded
}

// KnowsEnvironment reports whether env is one of the environments c
// declares, or c declares none.
func (c *Catalog) KnowsEnvironment(env string) bool {
	return c == nil || c.Environments == nil || slices.Contains(c.Environments, env)
}

// Labels returns every label c gives a tool (or, by a "<target>___*"
// entry, a target's tools), sorted: no other is ever in a document.
func (c *Catalog) Labels() []string {
	labels := []string{}
	for _, t := range c.Tools {
		for _, l := range t.Labels {
			if !slices.Contains(labels, l) {
				labels = append(labels, l)
			}
		}
	}
	slices.Sort(labels)
	return labels
}

// ValidEnvironment reports whether env is an environment's name: lower-case
// letters, digits and dashes. Policies compare names exactly, so a name in
// another case would match none of the rules written for it.
func ValidEnvironment(env string) bool { return validLabel.MatchString(env) }

var validLabel = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func validRisk(r string) bool {
	switch r {
	case RiskLow, RiskMedium, RiskHigh, RiskCritical:
		return true
	}
	return false
}

// PinsEnvironment reports whether c pins any target to env.
func (c *Catalog) PinsEnvironment(env string) bool {
	if c == nil {
		return false
	}
	for _, t := range c.Targets {
		if t.Environment == env {
			return true
		}
	}
	return false
}

// Lookup resolves a tool: an exact entry wins over the target's "___*" entry,
// which wins over the defaults (risk: DefaultRisk, else medium; operation:
// classified from the tool name). A nil catalog gives the defaults.
func (c *Catalog) Lookup(target, tool string) Entry {
	e := Entry{Risk: RiskMedium, Labels: []string{}}
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
		for _, l := range t.Labels {
			if !slices.Contains(e.Labels, l) {
				e.Labels = append(e.Labels, l)
			}
		}
		if t.Command != nil {
			e.Command = t.Command
		}
	}
	if e.Command == nil {
		// A tool of a command entry's name in another case carries the
		// command too: a gateway that matched names without case would run
		// it, and its command must not go unread.
		folded := c.folded
		if folded == nil {
			folded = c.foldCommands()
		}
		for i := len(keys) - 1; i >= 0 && len(folded) > 0; i-- {
			if cmd, ok := folded[strings.ToLower(keys[i])]; ok {
				e.Command = cmd
				break
			}
		}
	}
	slices.Sort(e.Labels)
	if e.Operation == "" {
		e.Operation = Classify(tool)
	}
	return e
}

// How a verb is found in a tool name. Misses are what matter: a destructive
// tool classified as anything else escapes the policies that watch
// destructive tools, so the destructive and executing verbs are also found
// inside joined words, at the cost of false positives ("deleted_report" is
// a delete). Read and write verbs are matched as whole words only, so that
// they never lift a name out of unknown by accident.
const (
	exact    = iota // a whole word: "get", "rm"
	edge            // starts or ends a word: "deletes", "bulkdelete"
	anywhere        // anywhere in the name's letters: "teardown" in "tear-down", "bulkdeletepods"
)

type verb struct {
	word  string
	op    string
	match int
}

var verbs = func() (out []verb) {
	for _, g := range []struct {
		op, words string
		match     int
	}{
		{OpRead, "get list read describe search find fetch show view lookup query count head check status watch inspect browse download export retrieve scan explain", exact},
		{OpWrite, "create put update write set add insert patch upload post send modify edit attach tag label enable rename copy move import append publish save merge commit comment assign approve reply schedule", exact},
		{OpExecute, "run sh eval exec call", exact},
		{OpExecute, "execute invoke trigger start stop restart reboot deploy evaluate shell command launch apply scale sudo spawn", edge},
		{OpDelete, "rm del rmdir unset", exact},
		{OpDelete, "drop kill wipe nuke zap drain flush revoke detach reset clear cancel disable empty", edge},
		{OpDelete, "delete remove destroy purge terminate truncate erase uninstall unlink deregister unregister deprovision decommission teardown obliterate evict prune shred overwrite rollback forcepush", anywhere},
	} {
		for _, w := range strings.Fields(g.words) {
			out = append(out, verb{w, g.op, g.match})
		}
	}
	return out
}()

var rank = map[string]int{"": 0, OpRead: 1, OpWrite: 2, OpUnknown: 3, OpExecute: 4, OpDelete: 5}

// Classify derives an operation class from a tool name, case-insensitively:
// the most dangerous verb found wins ("list_and_delete_pods" is a delete),
// and a name with no known verb is unknown. Words are split at every
// non-letter and at camelCase boundaries; see exact, edge and anywhere for
// how each verb is looked for.
func Classify(tool string) string {
	if op, ok := classified.Load(tool); ok {
		return op.(string)
	}
	op := classify(tool)
	if len(tool) > maxClassifiedName {
		return op // a target's list may hold names of any length
	}
	// Names come from targets and callers: the cache is bounded, in
	// entries and in their length, starts over when full, and keeps a
	// copy (a name may be cut from a larger text).
	if classifiedN.Add(1) > maxClassified {
		classified.Clear()
		classifiedN.Store(0)
	}
	classified.Store(strings.Clone(tool), op)
	return op
}

// maxClassifiedName is the longest name Classify remembers: a call's tool
// name is at most 256 bytes (mcp.MaxName).
const maxClassifiedName = 256

// classified caches Classify's answers: the same names come back in every
// list and call, and finding verbs inside words costs microseconds a name.
var (
	classified    sync.Map
	classifiedN   atomic.Int64
	maxClassified = int64(8192)
)

func classify(tool string) string {
	best := ""
	lower := strings.ToLower(tool)
	letters := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) {
			return r
		}
		return -1
	}, lower)
	ws := words(tool)
	for _, v := range verbs {
		if rank[v.op] <= rank[best] {
			continue
		}
		found := false
		switch v.match {
		case anywhere:
			found = strings.Contains(letters, v.word)
		case edge:
			for _, w := range ws {
				if strings.HasPrefix(w, v.word) || strings.HasSuffix(w, v.word) {
					found = true
					break
				}
			}
		default:
			found = slices.Contains(ws, v.word)
		}
		if found {
			best = v.op
		}
	}
	if best == "" {
		return OpUnknown
	}
	return best
}

// words splits an identifier into lower-case words: each run of letters
// whole, and its camelCase parts ("podDelete2" gives "poddelete", "pod"
// and "delete"). Casing no verb relies on ("dElete", "DELETEpod") is
// covered by the whole run.
func words(s string) []string {
	var out []string
	add := func(w []rune) {
		if len(w) > 0 {
			if lw := strings.ToLower(string(w)); !slices.Contains(out, lw) {
				out = append(out, lw)
			}
		}
	}
	runes := []rune(s)
	for i := 0; i < len(runes); {
		if !unicode.IsLetter(runes[i]) {
			i++
			continue
		}
		j := i
		for j < len(runes) && unicode.IsLetter(runes[j]) {
			j++
		}
		run := runes[i:j]
		add(run)
		start := 0
		for k := 1; k < len(run); k++ {
			if unicode.IsUpper(run[k]) && (unicode.IsLower(run[k-1]) || (k+1 < len(run) && unicode.IsLower(run[k+1]) && unicode.IsUpper(run[k-1]))) {
				add(run[start:k])
				start = k
			}
		}
		if start > 0 {
			add(run[start:])
		}
		i = j
	}
	return out
}
