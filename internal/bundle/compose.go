package bundle

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"

	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/celpolicy"
	"github.com/toolgate/toolgate/internal/mcp"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/ratelimit"
	"github.com/toolgate/toolgate/internal/redact"
	"github.com/toolgate/toolgate/policies"
)

// compose puts the base that b's BundleBase names under b: the base's
// policies, RateLimits, Containments and Redaction rules that b neither replaces (by
// name) nor disables, then b's; the base's catalog with b's entries and
// declarations over it; b's tests alone. b's digest becomes the layers'.
func compose(b *Bundle, o origin) []error {
	base, err := o.open(b.base)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", position(b.baseWhere, []any{"spec", "bundle"}), err)}
	}
	var errs []error
	known := names(base)
	for _, list := range []struct {
		field string
		names []string
	}{{"disable", b.base.Disable}, {"replace", b.base.Replace}} {
		for i, name := range list.names {
			if !slices.Contains(known, name) {
				msg := fmt.Sprintf("spec.%s: the base has no policy, RateLimit, Containment or Redaction rule named %q", list.field, name)
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

	// A base policy the bundle replaces may be replaced in either dialect.
	own := b.PolicyNames()
	var policies []*v1alpha1.ValidatingPolicy
	var docs []Document
	for i, p := range base.Policies {
		if !disabled[p.Name] && !slices.Contains(own, p.Name) {
			policies, docs = append(policies, p), append(docs, base.docs[i])
		}
	}
	b.Policies, b.docs = append(policies, b.Policies...), append(docs, b.docs...)
	var cel []*celpolicy.Policy
	docs = nil
	for i, p := range base.CELPolicies {
		if !disabled[p.Metadata.Name] && !slices.Contains(own, p.Metadata.Name) {
			cel, docs = append(cel, p), append(docs, base.celDocs[i])
		}
	}
	b.CELPolicies, b.celDocs = append(cel, b.CELPolicies...), append(docs, b.celDocs...)

	if b.Pins == nil {
		// A bundle's ToolPins replaces the base's whole: pins are
		// reviewed as one list.
		b.Pins, b.pinsWhere = base.Pins, base.pinsWhere
	}
	b.limits = layered(base.limits, b.limits, (*ratelimit.Limit).Name, disabled)
	b.contain = layered(base.contain, b.contain, (*ratelimit.Containment).Name, disabled)
	b.redactions = layered(base.redactions, b.redactions, func(r redact.Rule) string { return r.Name }, disabled)
	// A base document's paths are checked only while the document is kept.
	kept := names(b)
	var matches []pathCheck
	for _, m := range base.matches {
		if m.owner == "" || slices.Contains(kept, m.owner) && !slices.ContainsFunc(b.matches, func(o pathCheck) bool { return o.owner == m.owner }) {
			matches = append(matches, m)
		}
	}
	b.matches = append(matches, b.matches...)

	b.warnings = append(b.warnings, catalogChanges(b.catalogWhere, base.Catalog, b.Catalog)...)
	if b.base.Bundle != "embedded" && b.base.Digest == "" {
		// The base's files travel in the archive: whoever writes the
		// archive or the directory can change them, and only a pin says
		// which base was meant.
		b.warnings = append(b.warnings, fmt.Sprintf("%s: the base %s is not pinned: add digest: %s to spec, so that no other base loads in its place",
			position(b.baseWhere, []any{"spec", "bundle"}), b.base.Bundle, base.Digest))
	}
	b.Catalog = mergeCatalogs(base.Catalog, b.Catalog)
	if b.catalogWhere == "" {
		b.catalogWhere = base.catalogWhere
	}
	if b.Catalog != nil {
		if err := b.Catalog.Validate(); err != nil {
			return []error{fmt.Errorf("%s: the catalog over the base's: %w", b.catalogWhere, err)}
		}
	}

	// Each layer is named by its digest as validate and publish print it
	// for that layer's bundle: its files and the bases under them.
	b.Layers = slices.Clone(base.Layers)
	if b.Layers == nil {
		b.Layers = []Layer{{Source: base.Source}}
	}
	b.Layers[len(b.Layers)-1].Digest = base.Digest
	if b.base.Bundle != "embedded" {
		// The function has the embedded base; any other travels in the
		// archive, under .base/.
		for _, f := range base.files {
			b.files = append(b.files, file{baseDir + f.name, f.data})
		}
	}
	sum := sha256.Sum256([]byte(base.Digest + "\x00" + b.Digest))
	b.Digest = "sha256:" + hex.EncodeToString(sum[:])
	b.Layers = append(b.Layers, Layer{Source: b.Source, Digest: b.Digest})
	return nil
}

// maxDepth bounds how deep bases nest: a base that builds on a base
// that builds on the bundle itself is an error, not a loop.
const maxDepth = 4

// baseDir is the directory of an archive that holds the base's files,
// when the base is not the embedded bundle. Directories whose names start
// with a dot are not read from a bundle's directory, so no file of the
// author's can be taken for the base's.
const baseDir = ".base/"

// origin is where a bundle's files were read, for finding its base.
type origin struct {
	dir string // the directory the bundle was opened from, if any
	// archive says the bundle was read from an archive, which carries
	// its base's files (archived) unless the base is embedded.
	archive  bool
	archived []file
	fetch    Fetch
	depth    int
}

// open reads and composes the base spec names, without its tests. Its
// documents are named as the base's in errors: embedded:FILE,
// ../platform/FILE or s3://bucket/prefix@VERSION:FILE.
func (o origin) open(spec *Base) (*Bundle, error) {
	if o.depth >= maxDepth {
		return nil, fmt.Errorf("base %s: bases nest more than %d deep", spec.Bundle, maxDepth)
	}
	var files []file
	var source, label string
	next := origin{fetch: o.fetch, depth: o.depth + 1}
	switch {
	case spec.Bundle == "embedded":
		if o.archived != nil {
			return nil, errors.New("base embedded: the archive also carries a base's files under .base/")
		}
		names, err := members(policies.FS)
		if err != nil {
			return nil, fmt.Errorf("base embedded: %w", err)
		}
		for _, name := range names {
			data, err := fs.ReadFile(policies.FS, name)
			if err != nil {
				return nil, fmt.Errorf("base embedded: %w", err)
			}
			files = append(files, file{name, data})
		}
		source, label = "embedded", "embedded:"
	case o.archive:
		if o.archived == nil {
			return nil, fmt.Errorf("base %s: the archive does not carry it (toolgate publish puts a base's files under .base/)", spec.Bundle)
		}
		files, next.archived = splitArchived(o.archived)
		next.archive = true
		source, label = baseSource(spec)
	case strings.HasPrefix(spec.Bundle, "s3://"):
		if o.fetch == nil {
			return nil, fmt.Errorf("base %s: this command does not read S3", spec.Bundle)
		}
		data, err := o.fetch(spec.Bundle, spec.Version)
		if err != nil {
			return nil, fmt.Errorf("base %s version %s: %w", spec.Bundle, spec.Version, err)
		}
		all, err := readArchive(data)
		if err != nil {
			return nil, fmt.Errorf("base %s version %s: %w", spec.Bundle, spec.Version, err)
		}
		files, next.archived = splitArchived(all)
		next.archive = true
		source, label = baseSource(spec)
	default:
		if o.dir == "" {
			return nil, fmt.Errorf("base %s: a directory base is read from beside a bundle opened from a directory, and travels in the archive toolgate publish writes", spec.Bundle)
		}
		next.dir = spec.Bundle
		if !filepath.IsAbs(next.dir) {
			next.dir = filepath.Join(o.dir, filepath.FromSlash(spec.Bundle))
		}
		var err error
		if files, err = readDir(next.dir); err != nil {
			return nil, fmt.Errorf("base %s: %w", spec.Bundle, err)
		}
		source, label = baseSource(spec)
	}
	base, errs := collect(files, source, label)
	base.Tests = nil
	switch {
	case base.base != nil && len(errs) == 0:
		errs = compose(base, next)
	case base.base == nil && next.archived != nil:
		errs = append(errs, fmt.Errorf("the archive carries files under .base/ for a base that builds on none"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("base %s: %w", source, errors.Join(errs...))
	}
	if spec.Digest != "" && spec.Digest != base.Digest {
		return nil, fmt.Errorf("base %s: digest %s, where spec.digest pins %s", source, base.Digest, spec.Digest)
	}
	return base, nil
}

// baseSource names a base that is not the embedded bundle, as a layer in
// decision records and as the prefix of its files in errors.
func baseSource(spec *Base) (source, label string) {
	if strings.HasPrefix(spec.Bundle, "s3://") {
		return spec.Bundle + "?versionId=" + spec.Version, spec.Bundle + "@" + spec.Version + ":"
	}
	return "dir:" + spec.Bundle, strings.TrimSuffix(spec.Bundle, "/") + "/"
}

// splitArchived separates an archive's files into the bundle's own and
// its base's (those under .base/, named without it).
func splitArchived(all []file) (own, base []file) {
	for _, f := range all {
		if rest, ok := strings.CutPrefix(f.name, baseDir); ok {
			base = append(base, file{rest, f.data})
		} else {
			own = append(own, f)
		}
	}
	return own, base
}

// names returns the names of b's policies, RateLimits and Redaction
// rules: what a BundleBase may disable or replace of a base.
func names(b *Bundle) []string {
	out := b.PolicyNames()
	for _, l := range b.limits {
		out = append(out, l.Name())
	}
	for _, c := range b.contain {
		out = append(out, c.Name())
	}
	for _, r := range b.redactions {
		out = append(out, r.Name)
	}
	return out
}

// layered returns the base's documents that the bundle neither disables
// nor replaces (a document of its own has the name), then the bundle's.
func layered[T any](base, own []T, name func(T) string, disabled map[string]bool) []T {
	var out []T
	for _, d := range base {
		if !disabled[name(d)] && !slices.ContainsFunc(own, func(o T) bool { return name(o) == name(d) }) {
			out = append(out, d)
		}
	}
	return append(out, own...)
}

// catalogChanges names, for validate, each tool whose risk or operation
// the overlay changes from what the base gives it (through an exact entry,
// its target's "___*" entry or the defaults), a changed default risk, and
// each target's environment pin it changes: a lower risk or an unpinned
// target is the base's protection changed.
func catalogChanges(where string, base, overlay *catalog.Catalog) []string {
	if overlay == nil {
		return nil
	}
	merged := mergeCatalogs(base, overlay)
	var out []string
	if d, old := merged.Lookup("", "").Risk, base.Lookup("", "").Risk; d != old {
		out = append(out, fmt.Sprintf("%s: catalog defaultRisk: %s, where the base's is %s (every tool no entry names)", where, d, old))
	}
	for _, key := range slices.Sorted(maps.Keys(overlay.Tools)) {
		target, tool, ok := strings.Cut(key, mcp.TargetSeparator)
		if !ok {
			target, tool = "", key
		}
		now, old := merged.Lookup(target, tool), base.Lookup(target, tool)
		if now.Risk != old.Risk {
			out = append(out, fmt.Sprintf("%s: catalog tool %s: risk %s, where the base's is %s", where, key, now.Risk, old.Risk))
		}
		if now.Operation != old.Operation {
			out = append(out, fmt.Sprintf("%s: catalog tool %s: operation %s, where the base's is %s", where, key, now.Operation, old.Operation))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(overlay.Targets)) {
		if base == nil {
			break
		}
		if env, old := merged.Targets[name].Environment, base.Targets[name].Environment; env != old && old != "" {
			out = append(out, fmt.Sprintf("%s: catalog target %s: environment %q, where the base pins it to %s", where, name, env, old))
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
