package celpolicy

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"strconv"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// kyvernoLibrary is kyvernoLibraries as a cel.Library.
type kyvernoLibrary struct{}

func (kyvernoLibrary) CompileOptions() []cel.EnvOption     { return kyvernoLibraries() }
func (kyvernoLibrary) ProgramOptions() []cel.ProgramOption { return nil }

// kyvernoLibraries are the functions of Kyverno's CEL libraries that make
// sense in process and without a cluster, under Kyverno's names, so that
// a policy written for Kyverno's JSON mode compiles here too:
//   - hash: sha1, sha256 and md5 of a string, in hexadecimal, also as
//     hash.sha1, hash.sha256 and hash.md5;
//   - json: json.unmarshal(string) and json.marshal(value);
//   - time: time.now(), time.truncate(timestamp, duration) and
//     time.toCron(timestamp).
//
// Kyverno's http, resource, image and globalContext libraries call the
// network or a cluster and are not offered. TestAgainstKyverno holds these
// to Kyverno's own command line.
func kyvernoLibraries() []cel.EnvOption {
	var out []cel.EnvOption
	for _, h := range []struct {
		name string
		new  func() hash.Hash
	}{{"sha1", sha1.New}, {"sha256", sha256.New}, {"md5", md5.New}} {
		digest := cel.UnaryBinding(func(v ref.Val) ref.Val {
			s, ok := v.(types.String)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			w := h.new()
			w.Write([]byte(s))
			return types.String(hex.EncodeToString(w.Sum(nil)))
		})
		for _, name := range []string{h.name, "hash." + h.name} {
			out = append(out, cel.Function(name, cel.Overload(name+"_string", []*cel.Type{cel.StringType}, cel.StringType, digest)))
		}
	}
	out = append(out,
		cel.Function("json.unmarshal", cel.Overload("json_unmarshal_string", []*cel.Type{cel.StringType}, cel.DynType,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				s, ok := v.(types.String)
				if !ok {
					return types.MaybeNoSuchOverloadErr(v)
				}
				var value any
				if err := json.Unmarshal([]byte(s), &value); err != nil {
					return types.NewErr("json.unmarshal: not JSON")
				}
				return types.DefaultTypeAdapter.NativeToValue(value)
			}))),
		cel.Function("json.marshal", cel.Overload("json_marshal_dyn", []*cel.Type{cel.DynType}, cel.StringType,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				native, err := plainValue(v, 0)
				if err != nil {
					return types.NewErr("json.marshal: %s", err)
				}
				b, err := json.Marshal(native)
				if err != nil {
					return types.NewErr("json.marshal: %s cannot be JSON", v.Type())
				}
				return types.String(b)
			}))),
		cel.Function("time.now", cel.Overload("time_now", nil, cel.TimestampType,
			cel.FunctionBinding(func(...ref.Val) ref.Val { return types.Timestamp{Time: time.Now()} }))),
		cel.Function("time.truncate", cel.Overload("time_truncate_timestamp_duration", []*cel.Type{cel.TimestampType, cel.DurationType}, cel.TimestampType,
			cel.BinaryBinding(func(t, d ref.Val) ref.Val {
				ts, ok1 := t.(types.Timestamp)
				dur, ok2 := d.(types.Duration)
				if !ok1 || !ok2 {
					return types.MaybeNoSuchOverloadErr(t)
				}
				return types.Timestamp{Time: ts.Truncate(dur.Duration)}
			}))),
		cel.Function("time.toCron", cel.Overload("time_to_cron_timestamp", []*cel.Type{cel.TimestampType}, cel.StringType,
			cel.UnaryBinding(func(t ref.Val) ref.Val {
				ts, ok := t.(types.Timestamp)
				if !ok {
					return types.MaybeNoSuchOverloadErr(t)
				}
				// minute hour day-of-month month day-of-week, as Kyverno
				// writes it.
				return types.String(strconv.Itoa(ts.Minute()) + " " + strconv.Itoa(ts.Hour()) + " " + strconv.Itoa(ts.Day()) + " " +
					strconv.Itoa(int(ts.Month())) + " " + strconv.Itoa(int(ts.Weekday())))
			}))),
	)
	return out
}

// plainValue is v as the Go value encoding/json writes: maps with string
// keys, lists, strings, numbers, booleans and null, depth bounded.
func plainValue(v ref.Val, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxJSONDepth)
	}
	switch v := v.(type) {
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(v), nil
	case types.String:
		return string(v), nil
	case types.Int:
		return int64(v), nil
	case types.Uint:
		return uint64(v), nil
	case types.Double:
		return float64(v), nil
	case traits.Mapper:
		out := map[string]any{}
		for it := v.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			key, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("a map key of type %s", k.Type())
			}
			e, err := plainValue(v.Get(k), depth+1)
			if err != nil {
				return nil, err
			}
			out[string(key)] = e
		}
		return out, nil
	case traits.Lister:
		var out []any
		for it := v.Iterator(); it.HasNext() == types.True; {
			e, err := plainValue(it.Next(), depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	}
	return nil, fmt.Errorf("a value of type %s", v.Type())
}

// maxJSONDepth bounds what json.marshal writes.
const maxJSONDepth = 64
