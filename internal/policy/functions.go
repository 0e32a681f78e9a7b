package policy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"sync"

	"github.com/jmespath-community/go-jmespath/pkg/interpreter"
	"github.com/kyverno/kyverno-json/pkg/core/compilers"
	"github.com/kyverno/kyverno-json/pkg/jp"
)

// functionCaller calls kyverno-json's JMESPath functions, with a
// regex_match that compiles each pattern once.
var functionCaller = sync.OnceValue(func() interpreter.FunctionCaller {
	funcs := jp.GetFunctions(context.Background())
	for i := range funcs {
		switch funcs[i].Name {
		case "regex_match":
			funcs[i].Handler = regexMatch
		case "sort_by":
			funcs[i].Handler = onCopy(funcs[i].Handler)
		}
	}
	return interpreter.NewFunctionCaller(funcs...)
})

// onCopy has handler work on a copy of its first argument's list:
// go-jmespath's sort_by sorts the list it is given in place, and a list
// it is given may outlive the decision (a compiled literal, a constant
// context variable, a value documents share) or be read by a later rule
// (the caller's arguments).
func onCopy(handler func([]any) (any, error)) func([]any) (any, error) {
	return func(args []any) (any, error) {
		if len(args) > 0 {
			if list, ok := args[0].([]any); ok {
				args = append([]any{slices.Clone(list)}, args[1:]...)
			}
		}
		return handler(args)
	}
}

// defaultCompilers returns kyverno-json's compilers with JMESPath, compiled
// by jpCompiler, as the default.
var defaultCompilers = sync.OnceValue(func() compilers.Compilers {
	c := compilers.DefaultCompilers
	c.Jp = newJPCompiler(functionCaller())
	return c.WithDefaultCompiler(compilers.CompilerJP)
})

// maxCachedPatterns bounds the regex cache: patterns normally come from
// policies, but a policy may build one from input, and input is unbounded.
const maxCachedPatterns = 1024

var (
	regexCache   sync.Map // pattern -> *regexp.Regexp
	regexCount   int
	regexCountMu sync.Mutex
)

func compileCached(pattern string) (*regexp.Regexp, error) {
	if re, ok := regexCache.Load(pattern); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	regexCountMu.Lock()
	if regexCount < maxCachedPatterns {
		if _, loaded := regexCache.LoadOrStore(pattern, re); !loaded {
			regexCount++
		}
	}
	regexCountMu.Unlock()
	return re, nil
}

// regexMatch is kyverno-json's regex_match(pattern, value) with a pattern
// cache. value may be a string, number or boolean.
func regexMatch(args []any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("regex_match: want 2 arguments, got %d", len(args))
	}
	pattern, ok := args[0].(string)
	if !ok {
		return nil, errors.New("regex_match: argument 1 must be a string")
	}
	var s string
	switch v := args[1].(type) {
	case string:
		s = v
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	case int:
		s = strconv.Itoa(v)
	case bool:
		s = strconv.FormatBool(v)
	default:
		return nil, errors.New("regex_match: argument 2 must be a string or a number")
	}
	re, err := compileCached(pattern)
	if err != nil {
		return nil, fmt.Errorf("regex_match: %w", err)
	}
	return re.MatchString(s), nil
}
