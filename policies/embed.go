// Package policies is the default policy bundle, embedded into the binary and
// used when POLICY_SOURCE is unset. See docs/policies.md for each policy's purpose.
package policies

import "embed"

// FS holds the bundle's files: policies, the tool catalog and tests/.
//
//go:embed *.yaml tests/*.yaml
var FS embed.FS
