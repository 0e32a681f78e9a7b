package bundle

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"

	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/ratelimit"
	"github.com/toolgate/toolgate/internal/redact"
	"github.com/toolgate/toolgate/policies"
)

// compose puts the base that b's BundleBase names under b: the base's
// policies, RateLimits and Redaction rules that b neither replaces (by
// name) nor disables, then b's; the base's catalog with b's entries and
// declarations over it; b's tests alone. b's digest becomes the layers'.
func compose(b *Bundle) []error {
	base, err := embeddedBase()
	if err != nil {
		return []error{err}
	}
	var errs []error
	known := names(base)
	for _, list := range []struct {
		field string
		names []string
	}{{"disable", b.base.Disable}, {"replace", b.base.Replace}} {
		for i, name := range list.names {
			if !slices.Contains(known, name) {
				msg := fmt.Sprintf("spec.%s: the base has no policy, RateLimit or Redaction rule named %q", list.field, name)
				if hint := policy.Nearest(known, name); hint != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", hint)
				}
				errs = append(errs, fmt.Errorf("%s: %s", position(b.baseWhere, []any{"spec", list.field, i}), msg))
			}
		}
	}
	for _, name := range names(b) {
		if slices.Contains(known, name) && !slices.Contains(b.base.Replace, name) && !slices.Contains(b.base.Disable, name) {
			errs = append(errs, fmt.Errorf("%s: %q is also the name of the base's: list it in spec.replace to replace the base's, or rename it",
				b.baseWhere.Where(), name))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	disabled := map[string]bool{}
	for _, name := range b.base.Disable {
		disabled[name] = true
	}

	var policies []*v1alpha1.ValidatingPolicy
	var docs []Document
	for i, p := range base.Policies {
		if !disabled[p.Name] && !slices.ContainsFunc(b.Policies, func(o *v1alpha1.ValidatingPolicy) bool { return o.Name == p.Name }) {
			policies, docs = append(policies, p), append(docs, base.docs[i])
		}
	}
	b.Policies, b.docs = append(policies, b.Policies...), append(docs, b.docs...)

	var limits []*ratelimit.Limit
	for _, l := range base.limits {
		if !disabled[l.Name()] && !slices.ContainsFunc(b.limits, func(o *ratelimit.Limit) bool { return o.Name() == l.Name() }) {
			limits = append(limits, l)
		}
	}
	b.limits = append(limits, b.limits...)
	var matches []pathCheck
	for _, m := range base.matches {
		if m.limit == "" || slices.ContainsFunc(limits, func(l *ratelimit.Limit) bool { return l.Name() == m.limit }) {
			matches = append(matches, m)
		}
	}
	b.matches = append(matches, b.matches...)

	var rules []redact.Rule
	for _, r := range base.redactions {
		if !disabled[r.Name] && !slices.ContainsFunc(b.redactions, func(o redact.Rule) bool { return o.Name == r.Name }) {
			rules = append(rules, r)
		}
	}
	b.redactions = append(rules, b.redactions...)

	b.warnings = append(b.warnings, catalogChanges(b.catalogWhere, base.Catalog, b.Catalog)...)
	b.Catalog = mergeCatalogs(base.Catalog, b.Catalog)
	if b.catalogWhere == "" {
		b.catalogWhere = base.catalogWhere
	}
	if err := b.Catalog.Validate(); err != nil {
		return []error{fmt.Errorf("%s: the catalog over the base's: %w", b.catalogWhere, err)}
	}

	b.Layers = []Layer{{Source: base.Source, Digest: base.Digest}, {Source: b.Source, Digest: b.Digest}}
	sum := sha256.Sum256([]byte(base.Digest + "\x00" + b.Digest))
	b.Digest = "sha256:" + hex.EncodeToString(sum[:])
	return nil
}

// embeddedBase collects the default bundle without its tests.
func embeddedBase() (*Bundle, error) {
	names, err := members(policies.FS)
	if err != nil {
		return nil, fmt.Errorf("base embedded: %w", err)
	}
	var files []file
	for _, name := range names {
		data, err := fs.ReadFile(policies.FS, name)
		if err != nil {
			return nil, fmt.Errorf("base embedded: %w", err)
		}
		files = append(files, file{name, data})
	}
	base, errs := collect(files, "embedded")
	if len(errs) > 0 {
		return nil, fmt.Errorf("base embedded: %w", errors.Join(errs...))
	}
	base.Tests = nil
	// Errors in the base's documents name them as the base's, not as
	// files of the author's bundle.
	for i := range base.docs {
		base.docs[i].File = "embedded:" + base.docs[i].File
	}
	for i := range base.matches {
		base.matches[i].doc.File = "embedded:" + base.matches[i].doc.File
	}
	base.catalogWhere = "embedded:" + base.catalogWhere
	return base, nil
}

// names returns the names of b's policies, RateLimits and Redaction
// rules: what a BundleBase may disable or replace of a base.
func names(b *Bundle) []string {
	var out []string
	for _, p := range b.Policies {
		out = append(out, p.Name)
	}
	for _, l := range b.limits {
		out = append(out, l.Name())
	}
	for _, r := range b.redactions {
		out = append(out, r.Name)
	}
	return out
}

// catalogChanges names, for validate, each field of the base catalog the
// overlay changes: a lower risk or an unpinned target is the base's
// protection changed.
func catalogChanges(where string, base, overlay *catalog.Catalog) []string {
	if base == nil || overlay == nil {
		return nil
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(overlay.Tools)) {
		t, old := overlay.Tools[name], base.Tools[name]
		if t.Risk != "" && old.Risk != "" && t.Risk != old.Risk {
			out = append(out, fmt.Sprintf("%s: catalog tool %s: risk %s, where the base's is %s", where, name, t.Risk, old.Risk))
		}
		if t.Operation != "" && old.Operation != "" && t.Operation != old.Operation {
			out = append(out, fmt.Sprintf("%s: catalog tool %s: operation %s, where the base's is %s", where, name, t.Operation, old.Operation))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(overlay.Targets)) {
		if env, old := overlay.Targets[name].Environment, base.Targets[name].Environment; env != "" && old != "" && env != old {
			out = append(out, fmt.Sprintf("%s: catalog target %s: environment %s, where the base pins it to %s", where, name, env, old))
		}
	}
	return out
}

// mergeCatalogs returns the base catalog with the overlay's over it, field
// by field: a tool's or target's field the overlay sets replaces the
// base's, one it leaves empty keeps the base's, and labels add up; the
// default risk, environments and claims the overlay sets replace the
// base's. An overlay that only adds a label to a tool keeps its risk, and
// an empty target keeps the base's environment.
func mergeCatalogs(base, overlay *catalog.Catalog) *catalog.Catalog {
	switch {
	case base == nil:
		return overlay
	case overlay == nil:
		return base
	}
	out := &catalog.Catalog{DefaultRisk: base.DefaultRisk, Environments: base.Environments, Claims: base.Claims,
		Tools: maps.Clone(base.Tools), Targets: maps.Clone(base.Targets)}
	if out.Tools == nil {
		out.Tools = map[string]catalog.Tool{}
	}
	if out.Targets == nil {
		out.Targets = map[string]catalog.Target{}
	}
	for name, t := range overlay.Tools {
		merged := out.Tools[name]
		merged.Risk = cmp.Or(t.Risk, merged.Risk)
		merged.Operation = cmp.Or(t.Operation, merged.Operation)
		for _, l := range t.Labels {
			if !slices.Contains(merged.Labels, l) {
				merged.Labels = append(slices.Clone(merged.Labels), l)
			}
		}
		out.Tools[name] = merged
	}
	for name, t := range overlay.Targets {
		merged := out.Targets[name]
		merged.Environment = cmp.Or(t.Environment, merged.Environment)
		out.Targets[name] = merged
	}
	out.DefaultRisk = cmp.Or(overlay.DefaultRisk, out.DefaultRisk)
	if overlay.Environments != nil {
		out.Environments = overlay.Environments
	}
	if overlay.Claims != nil {
		out.Claims = overlay.Claims
	}
	return out
}
