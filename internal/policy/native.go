package policy

import (
	"strings"
	"unicode/utf8"

	"github.com/jmespath-community/go-jmespath/pkg/binding"
)

// native compiles a call of one of the functions bundles call on every
// decision (lookup in a grant table, wildcard on a tool name, length,
// contains) so that the arguments policies pass them, JSON values of the
// types the function takes, are answered here, without the argument list
// and type checks the function caller allocates and runs per call. Any
// other argument goes to the function caller, so that its errors and its
// reflection on odd Go values stay exactly the caller's; each case below
// is the caller's handler for the types it accepts, and
// TestNativeFunctionsMatchCaller holds the two to the same results. ok is
// false for any other function or number of arguments.
func (c *jpCompiler) native(name string, args []expr) (e expr, ok bool) {
	var answer func(x, y any) (any, bool)
	switch {
	case name == "lookup" && len(args) == 2:
		// kyverno's lookup: an object's member by name. An array's element
		// by index checks the index: left to the caller.
		answer = func(x, y any) (any, bool) {
			if m, ok := x.(map[string]any); ok {
				if k, ok := y.(string); ok {
					return m[k], true
				}
			}
			return nil, false
		}
	case name == "wildcard" && len(args) == 2:
		// kyverno-json's wildcard(pattern, name).
		answer = func(x, y any) (any, bool) {
			pattern, ok := x.(string)
			if !ok {
				return nil, false
			}
			s, ok := y.(string)
			if !ok {
				return nil, false
			}
			return wildcardMatch(pattern, s), true
		}
	case name == "contains" && len(args) == 2:
		// go-jmespath's contains(subject, search).
		answer = func(x, y any) (any, bool) {
			switch subject := x.(type) {
			case string:
				s, ok := y.(string)
				return ok && strings.Contains(subject, s), true
			case []any:
				for _, item := range subject {
					if equal(y, item) {
						return true, true
					}
				}
				return false, true
			}
			return nil, false
		}
	case name == "length" && len(args) == 1:
		// go-jmespath's length(subject).
		return c.native1(name, args[0], func(x any) (any, bool) {
			switch subject := x.(type) {
			case string:
				return boxed(utf8.RuneCountInString(subject)), true
			case []any:
				return boxed(len(subject)), true
			case map[string]any:
				return boxed(len(subject)), true
			}
			return nil, false
		}), true
	case name == "max" && len(args) == 1:
		// go-jmespath's max(list): of numbers or of strings, the greatest
		// element as found (an empty list is null).
		return c.native1(name, args[0], func(x any) (any, bool) {
			list, ok := x.([]any)
			if !ok {
				return nil, false
			}
			var best any
			for i, v := range list {
				switch v := v.(type) {
				case float64:
					if b, ok := best.(float64); i == 0 || ok && v > b {
						best = list[i]
					} else if !ok {
						return nil, false
					}
				case string:
					if b, ok := best.(string); i == 0 || ok && v > b {
						best = list[i]
					} else if !ok {
						return nil, false
					}
				default:
					return nil, false
				}
			}
			return best, true
		}), true
	default:
		return nil, false
	}
	first, second := args[0], args[1]
	return func(value any, b binding.Bindings) (any, error) {
		x, err := first(value, b)
		if err != nil {
			return nil, err
		}
		y, err := second(value, b)
		if err != nil {
			return nil, err
		}
		if v, ok := answer(x, y); ok {
			return v, nil
		}
		return c.caller.CallFunction(name, []any{x, y})
	}, true
}

// native1 is a call of a one-argument function answered by answer where
// it can.
func (c *jpCompiler) native1(name string, arg expr, answer func(x any) (any, bool)) expr {
	return func(value any, b binding.Bindings) (any, error) {
		x, err := arg(value, b)
		if err != nil {
			return nil, err
		}
		if v, ok := answer(x); ok {
			return v, nil
		}
		return c.caller.CallFunction(name, []any{x})
	}
}

// smallNumbers are the lengths most values have, boxed once: a float64 in
// an interface is otherwise an allocation per call.
var smallNumbers = func() (n [64]any) {
	for i := range n {
		n[i] = float64(i)
	}
	return n
}()

func boxed(n int) any {
	if n < len(smallNumbers) {
		return smallNumbers[n]
	}
	return float64(n)
}

// Wildcard reports whether pattern matches all of name as kyverno-json's
// wildcard() does: '*' matches any run of characters, '?' exactly one.
// The second policy dialect offers it too.
func Wildcard(pattern, name string) bool { return wildcardMatch(pattern, name) }

// wildcardMatch is kyverno's wildcard.Match (go-wildcard's): pattern
// matches all of name, '*' matching any run of characters and '?' exactly
// one, a character being a rune as []rune reads a string (an invalid byte
// is one U+FFFD). It walks the strings instead of converting both to runes
// on every call, and backtracks only to the last '*', so that its time is
// linear in practice where the recursive original is exponential in the
// number of stars.
func wildcardMatch(pattern, name string) bool {
	if pattern == "" {
		return name == ""
	}
	p, s := 0, 0
	star, resume := -1, 0 // after the last '*': where in pattern, and in name
	for s < len(name) {
		if p < len(pattern) {
			pc, pw := utf8.DecodeRuneInString(pattern[p:])
			sc, sw := utf8.DecodeRuneInString(name[s:])
			switch {
			case pc == '*':
				star, resume = p+pw, s
				p += pw
				continue
			case pc == '?' || pc == sc:
				p += pw
				s += sw
				continue
			}
		}
		if star < 0 {
			return false
		}
		// The last '*' takes one more character of name.
		_, sw := utf8.DecodeRuneInString(name[resume:])
		resume += sw
		p, s = star, resume
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
