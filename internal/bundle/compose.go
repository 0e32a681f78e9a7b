package bundle

import (
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
	disabled := map[string]bool{}
	var errs []error
	known := baseNames(base)
	for i, name := range b.base.Disable {
		if !slices.Contains(known, name) {
			msg := fmt.Sprintf("spec.disable: the base has no policy, RateLimit or Redaction rule named %q", name)
			if hint := policy.Nearest(known, name); hint != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", hint)
			}
			errs = append(errs, fmt.Errorf("%s: %s", position(b.baseWhere, []any{"spec", "disable", i}), msg))
		}
		disabled[name] = true
	}
	if len(errs) > 0 {
		return errs
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
	return base, nil
}

// baseNames returns the names a BundleBase may disable.
func baseNames(base *Bundle) []string {
	var names []string
	for _, p := range base.Policies {
		names = append(names, p.Name)
	}
	for _, l := range base.limits {
		names = append(names, l.Name())
	}
	for _, r := range base.redactions {
		names = append(names, r.Name)
	}
	return names
}

// mergeCatalogs returns the base catalog with the overlay's over it: its
// tools and targets by name, its default risk, environments and claims
// when it sets them.
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
	maps.Copy(out.Tools, overlay.Tools)
	maps.Copy(out.Targets, overlay.Targets)
	if overlay.DefaultRisk != "" {
		out.DefaultRisk = overlay.DefaultRisk
	}
	if overlay.Environments != nil {
		out.Environments = overlay.Environments
	}
	if overlay.Claims != nil {
		out.Claims = overlay.Claims
	}
	return out
}
