// Package bundle loads a policy bundle: a tree of YAML files holding
// policies (Kyverno JSON's, and Kyverno's CEL ValidatingPolicies), at most
// one tool catalog, redaction rules and the bundle's own test cases.
// Every document is decoded strictly and every policy compiled at load time,
// so a bundle that loads is a bundle that can decide.
package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/kyverno/kyverno-json/pkg/apis/policy/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/toolgate/toolgate/internal/catalog"
	"github.com/toolgate/toolgate/internal/celpolicy"
	"github.com/toolgate/toolgate/internal/codec"
	"github.com/toolgate/toolgate/internal/pins"
	"github.com/toolgate/toolgate/internal/policy"
	"github.com/toolgate/toolgate/internal/ratelimit"
	"github.com/toolgate/toolgate/internal/redact"
)

// The documents a bundle holds besides Kyverno JSON policies: apiVersion
// APIVersion and one of these kinds. Package policytest decodes the tests.
const (
	APIVersion      = "toolgate.dev/v1alpha1"
	KindCatalog     = "ToolCatalog"
	KindRedaction   = "Redaction"
	KindRateLimit   = "RateLimit"
	KindContainment = "Containment"
	KindToolPins    = "ToolPins"
	KindTest        = "PolicyTest"
	KindBase        = "BundleBase"
)

// Bundle is a loaded, compiled policy bundle.
type Bundle struct {
	// Source names where the bundle came from: "embedded", "dir:<path>" or
	// the URL of its archive, "s3://bucket/prefix/bundle.tar.gz".
	Source string
	// Digest is the SHA-256 of the bundle's files (names and contents), the
	// same wherever the same files are loaded from.
	Digest string
	// Version and ETag identify the archive object a bundle was loaded
	// from: its S3 version id (empty in an unversioned bucket) and ETag.
	Version, ETag string

	// Policies are the kyverno-json policies, CELPolicies the CEL ones;
	// Engine evaluates the first, then the second.
	Policies    []*v1alpha1.ValidatingPolicy
	CELPolicies []*celpolicy.Policy
	Engine      policy.Explainer
	Catalog     *catalog.Catalog
	// Redactor holds the Redaction documents' rules; nil when there are none.
	Redactor *redact.Redactor
	// RateLimits holds the RateLimit documents; nil when there are none.
	RateLimits *ratelimit.Set
	// Containments holds the Containment documents; nil when there are none.
	Containments *ratelimit.Containments
	// Pins is the ToolPins document (a bundle's replaces its base's); nil
	// when there is none.
	Pins *pins.Set
	// Sessions says which policies read the document's session: none (""),
	// only audit-mode ones, or enforcing ones (see policy.ReadersOf).
	Sessions policy.Mode
	// Definitions says the same of tool.definition (see
	// policy.ReadersOf).
	Definitions policy.Mode
	Tests       []Document
	// Layers are the bundles this one is made of, base first, when it
	// builds on another (a BundleBase document); nil when it does not.
	Layers []Layer
	// docs are the documents of Policies, catalogWhere the file and line
	// of the catalog.
	docs         []Document
	celDocs      []Document
	catalogWhere string
	// celEngine is the CEL policies compiled, nil when there are none.
	celEngine *celpolicy.Engine
	// base is the BundleBase document's spec, and where it is.
	base      *Base
	baseWhere Document
	// matches are the other documents whose paths are checked once the
	// catalog (which declares claims) is known, and warnings what the
	// checks warned of.
	matches  []pathCheck
	warnings []string

	redactions []redact.Rule
	limits     []*ratelimit.Limit
	contain    []*ratelimit.Containment
	pinsWhere  string // the ToolPins document's file and line
	// files are what an archive of the bundle holds: its own files and,
	// under .base/, those of a base other than the embedded one.
	files []file
}

// Layer is one bundle of a composed one.
type Layer struct {
	Source, Digest string
}

// Base is the spec of a BundleBase document: the bundle a bundle builds
// on. The bundle's policies, RateLimits and Redaction rules then replace
// the base's it lists in Replace, its catalog's fields go over the base
// catalog's, and its tests are its own.
type Base struct {
	// Bundle names the base: "embedded", the default bundle compiled into
	// the function; the path of a bundle directory, relative to this
	// bundle's; or the s3:// prefix a bundle was published to, with
	// Version.
	Bundle string `json:"bundle"`
	// Version is the S3 object version of a base in S3: a base is a
	// published version, never whatever the prefix holds today.
	Version string `json:"version,omitempty"`
	// Digest, when set, is the digest the base must have: a directory
	// base that changes under the bundle then fails to load.
	Digest string `json:"digest,omitempty"`
	// Disable names the base's policies, RateLimits and Redaction rules
	// left out.
	Disable []string `json:"disable,omitempty"`
	// Replace names the base's policies, RateLimits and Redaction rules
	// the bundle redefines under the same name. A bundle document that
	// has a base one's name without being listed here is an error, so
	// that no base protection is replaced by accident, now or when a
	// later base adds a name the bundle already uses.
	Replace []string `json:"replace,omitempty"`
}

// pathCheck is a document whose paths are checked against the attribute
// document's schema: a RateLimit's or a Redaction's.
type pathCheck struct {
	doc   Document
	name  string
	owner string // the RateLimit's or Containment's name, for one
	check func(policy.Declared) []policy.Problem
}

// Warnings name, with file and line, what the bundle does that loads but
// may not be meant (see policy.Warnings): for "validate", not for every
// start of the function.
func (b *Bundle) Warnings() []string {
	out := slices.Clone(b.warnings)
	for i, p := range b.Policies {
		for _, w := range policy.Warnings(p) {
			out = append(out, b.docs[i].Where()+": "+w)
		}
	}
	for i, p := range b.CELPolicies {
		if strings.HasPrefix(p.Metadata.Name, "(") {
			out = append(out, fmt.Sprintf("%s: policy %s: a name in parentheses reads, in records and findings, as one of the interceptor's own steps ((session), (task)); a later release refuses it: rename it",
				b.celDocs[i].Where(), p.Metadata.Name))
		}
	}
	if b.Definitions != "" && b.Pins == nil {
		out = append(out, b.Source+": policies read tool.definition, and the bundle has no ToolPins document: every definition is unread")
	}
	if b.Catalog != nil {
		named := b.Environments()
		for _, name := range slices.Sorted(maps.Keys(b.Catalog.Targets)) {
			if env := b.Catalog.Targets[name].Environment; env != "" && !named[env] {
				out = append(out, fmt.Sprintf("%s: catalog target %s: environment %q is named by no policy, so no rule written for an environment applies to it", b.catalogWhere, name, env))
			}
		}
	}
	return out
}

// Environments returns the environments the bundle's policies name (see
// policy.Environments): an environment none names is treated as no other
// is, which a typo ("prod") would make of production.
func (b *Bundle) Environments() map[string]bool {
	out := policy.Environments(b.Policies)
	if b.celEngine != nil {
		maps.Copy(out, b.celEngine.Environments())
	}
	return out
}

// PolicyNames returns the names of the bundle's policies, in the order
// they are evaluated.
func (b *Bundle) PolicyNames() []string {
	var out []string
	for _, p := range b.Policies {
		out = append(out, p.Name)
	}
	for _, p := range b.CELPolicies {
		out = append(out, p.Metadata.Name)
	}
	return out
}

// Document is one YAML document of a bundle file.
type Document struct {
	File string // path within the bundle
	Line int    // line of the document's first line in File
	Data []byte
}

// Where returns "file:line" for error messages.
func (d Document) Where() string { return fmt.Sprintf("%s:%d", d.File, d.Line) }

// Fetch returns the archive published at an s3:// prefix in one object
// version: how a base in S3 is read.
type Fetch func(prefix, version string) ([]byte, error)

// Open loads the bundle named by a POLICY_SOURCE value: empty for the embedded
// bundle, or the path of a directory. Anything else is an error, so that a
// mistyped source fails closed instead of falling back to other policies.
// A base in S3 is read with fetch; with nil, such a base is an error.
func Open(source string, embedded fs.FS, fetch Fetch) (*Bundle, error) {
	if source == "" {
		return Load(embedded, "embedded")
	}
	if strings.Contains(source, "://") {
		return nil, fmt.Errorf("load bundle %s: unsupported source scheme", source)
	}
	info, err := os.Stat(source)
	if err != nil {
		return nil, fmt.Errorf("load bundle %s: %w", source, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("load bundle %s: not a directory", source)
	}
	files, err := readDir(source)
	if err != nil {
		return nil, fmt.Errorf("load bundle %s: %w", "dir:"+source, err)
	}
	return load(files, "dir:"+source, origin{dir: source, fetch: fetch})
}

// Load reads every .yaml and .yml file below the root of fsys (hidden
// directories skipped), in lexical order. Its base, if it has one, can
// only be the embedded bundle.
func Load(fsys fs.FS, source string) (*Bundle, error) {
	files, err := readFS(fsys)
	if err != nil {
		return nil, fmt.Errorf("load bundle %s: %w", source, err)
	}
	return load(files, source, origin{})
}

func readDir(dir string) ([]file, error) { return readFS(os.DirFS(dir)) }

// readFS reads the bundle files of fsys.
func readFS(fsys fs.FS) ([]file, error) {
	names, err := members(fsys)
	if err != nil {
		return nil, err
	}
	files := make([]file, len(names))
	for i, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		files[i] = file{name, data}
	}
	return files, nil
}

// members returns the names of the bundle files in fsys, sorted.
func members(fsys fs.FS) ([]string, error) {
	var names []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != "." && strings.HasPrefix(d.Name(), ".") {
			return fs.SkipDir
		}
		if !d.IsDir() && member(p) {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	return names, err
}

// file is one file of a bundle, named by its slash-separated path.
type file struct {
	name string
	data []byte
}

// member reports whether the file at the slash-separated path p belongs to
// a bundle: a .yaml or .yml file outside hidden directories.
func member(p string) bool {
	dir, name := path.Split(p)
	for d := range strings.SplitSeq(strings.TrimSuffix(dir, "/"), "/") {
		if strings.HasPrefix(d, ".") {
			return false
		}
	}
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

// load decodes and compiles a bundle's files. Every document's error is
// reported, each with its file and line, so that one run of "validate"
// shows an author all of them.
func load(files []file, source string, o origin) (*Bundle, error) {
	b, errs := collect(files, source, "")
	switch {
	case b.base != nil && len(errs) == 0:
		errs = compose(b, o)
	case b.base == nil && o.archived != nil:
		errs = append(errs, errors.New("the archive carries a base's files under .base/, and the bundle has no BundleBase"))
	}
	errs = append(errs, b.checkPaths()...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("load bundle %s: %w", source, errors.Join(errs...))
	}
	if len(b.Policies)+len(b.CELPolicies) == 0 {
		return nil, fmt.Errorf("load bundle %s: no policies found", source)
	}
	if err := b.compile(); err != nil {
		return nil, fmt.Errorf("load bundle %s: %w", source, err)
	}
	readers := policy.ReadersOf(b.Policies)
	if b.celEngine != nil {
		readers = readers.Join(b.celEngine.Readers())
	}
	b.Sessions, b.Definitions = readers.Sessions, readers.Definitions
	var err error
	if len(b.limits) > 0 {
		if b.RateLimits, err = ratelimit.NewSet(b.limits); err != nil {
			return nil, fmt.Errorf("load bundle %s: %w", source, err)
		}
	}
	if len(b.contain) > 0 {
		if b.Containments, err = ratelimit.NewContainments(b.contain, countedPolicies(b.PolicyNames(), readers.DefinitionPolicies)); err != nil {
			return nil, fmt.Errorf("load bundle %s: %w", source, err)
		}
	}
	if len(b.redactions) > 0 {
		if b.Redactor, err = redact.Compile(b.redactions); err != nil {
			return nil, fmt.Errorf("load bundle %s: %w", source, err)
		}
	}
	return b, nil
}

// compile compiles the bundle's policies into its Engine: the
// kyverno-json ones, then the CEL ones. Its error names the policy's file
// and line.
func (b *Bundle) compile() error {
	seen := map[string]Document{}
	for i, name := range b.PolicyNames() {
		doc := b.policyDoc(i)
		if first, ok := seen[name]; ok {
			return fmt.Errorf("%s: duplicate policy name %q (also at %s)", doc.Where(), name, first.Where())
		}
		seen[name] = doc
	}
	var engines []policy.Explainer
	at := func(docs []Document, err error) error {
		if pe, ok := errors.AsType[*policy.PolicyError](err); ok && pe.Index < len(docs) {
			return fmt.Errorf("%s: %w", errorPosition(docs[pe.Index], err), err)
		}
		return err
	}
	if len(b.Policies) > 0 {
		k, err := policy.Compile(b.Policies)
		if err != nil {
			return at(b.docs, err)
		}
		engines = append(engines, k)
	}
	if len(b.CELPolicies) > 0 {
		c, err := celpolicy.Compile(b.CELPolicies, b.declared())
		if err != nil {
			return at(b.celDocs, err)
		}
		b.celEngine, engines = c, append(engines, c)
	}
	b.Engine = policy.Join(engines...)
	return nil
}

// policyDoc returns the document of the i-th of PolicyNames.
func (b *Bundle) policyDoc(i int) Document {
	if i < len(b.docs) {
		return b.docs[i]
	}
	return b.celDocs[i-len(b.docs)]
}

// declared is what the bundle's catalog declares of the documents its
// policies read; nothing without a catalog.
func (b *Bundle) declared() policy.Declared {
	if b.Catalog == nil {
		return policy.Declared{}
	}
	return policy.Declared{Claims: b.Catalog.Claims, Environments: b.Catalog.Environments, Labels: b.Catalog.Labels()}
}

// collect decodes a bundle's files into b, with its digest, without
// compiling or checking them as a whole. Its documents are named by label
// and their file's name: a base's are named as the base's in errors.
func collect(files []file, source, label string) (*Bundle, []error) {
	b := &Bundle{Source: source, files: files}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	h := sha256.New()
	var errs []error
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", path.Clean(f.name), len(f.data))
		h.Write(f.data)
		for _, doc := range SplitDocuments(label+f.name, f.data) {
			if err := b.add(doc); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", errorPosition(doc, err), err))
			}
		}
	}
	b.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return b, errs
}

// checkPaths checks every path the bundle's documents read against the
// attribute document's schema, and every environment they name against
// the ones its catalog declares. It returns the errors, each at
// its file, line and column, and keeps the warnings for Warnings.
func (b *Bundle) checkPaths() []error {
	declared := b.declared()
	var errs []error
	report := func(doc Document, what string, problems []policy.Problem) {
		for _, p := range problems {
			msg := fmt.Sprintf("%s: %s: %s", position(doc, p.At), what, p.Message)
			if p.Warning {
				b.warnings = append(b.warnings, msg)
			} else {
				errs = append(errs, errors.New(msg))
			}
		}
	}
	for i, p := range b.Policies {
		report(b.docs[i], "policy "+p.Name, policy.Paths(p, declared))
	}
	for _, m := range b.matches {
		report(m.doc, m.name, m.check(declared))
	}
	return errs
}

// unknownField finds the member a strict decoder refused.
var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// errorPosition returns where in doc err is: the member a policy's error
// names, or the first member of the name a strict decoder refused, else
// the document's first line.
func errorPosition(doc Document, err error) string {
	if fe, ok := errors.AsType[*policy.FieldError](err); ok {
		return position(doc, fe.At)
	}
	if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
		if line, col, ok := locateKey(doc.Data, m[1]); ok {
			return fmt.Sprintf("%s:%d:%d", doc.File, doc.Line+line-1, col)
		}
	}
	return doc.Where()
}

// Position returns "file:line:column" of the member at names in doc (at
// as policy.Problem.At), or "file:line" of doc when it cannot be found.
func Position(doc Document, at []any) string { return position(doc, at) }

func position(doc Document, at []any) string {
	line, col, ok := locate(doc.Data, at)
	if !ok {
		return doc.Where()
	}
	return fmt.Sprintf("%s:%d:%d", doc.File, doc.Line+line-1, col)
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// scanTypeMeta reads apiVersion and kind from their top-level lines
// ("kind: ToolCatalog" at the start of a line), without parsing the
// document: every document is decoded again by its kind, test documents
// not at all when the function loads a bundle, and parsing each one twice
// was most of a cold start's bundle load. It reports false for anything
// else (flow style, a key given twice, escapes), which the YAML parser
// then reads.
func scanTypeMeta(data []byte) (typeMeta, bool) {
	var tm typeMeta
	var seenVersion, seenKind bool
	for line := range strings.Lines(string(data)) {
		key, value, ok := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
		var dst *string
		switch key {
		case "apiVersion":
			if seenVersion {
				return tm, false
			}
			dst, seenVersion = &tm.APIVersion, true
		case "kind":
			if seenKind {
				return tm, false
			}
			dst, seenKind = &tm.Kind, true
		default:
			continue
		}
		// "kind:X" is a scalar to YAML, not a key.
		if !ok || value != "" && value[0] != ' ' {
			return tm, false
		}
		if i := strings.Index(value, " #"); i >= 0 {
			value = value[:i]
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') {
			if value[len(value)-1] != value[0] || strings.ContainsAny(value[1:len(value)-1], "\"'\\") {
				return tm, false
			}
			value = value[1 : len(value)-1]
		}
		if value == "" || strings.ContainsAny(value, "{}[]&*!|>%@`\"'") || strings.Contains(value, ": ") {
			return tm, false
		}
		*dst = value
	}
	return tm, seenVersion && seenKind
}

func (b *Bundle) add(doc Document) error {
	tm, ok := scanTypeMeta(doc.Data)
	if !ok {
		if err := yaml.Unmarshal(doc.Data, &tm); err != nil {
			return err
		}
	}
	switch {
	case tm.APIVersion == policy.KyvernoAPIVersion && tm.Kind == policy.KyvernoKind:
		p, err := policy.DecodePolicy(doc.Data)
		if err != nil {
			return err
		}
		b.Policies, b.docs = append(b.Policies, p), append(b.docs, doc)
	case tm.APIVersion == celpolicy.APIVersion && tm.Kind == celpolicy.Kind:
		p, err := celpolicy.Decode(doc.Data)
		if err != nil {
			return err
		}
		b.CELPolicies, b.celDocs = append(b.CELPolicies, p), append(b.celDocs, doc)
	case tm.APIVersion == APIVersion && tm.Kind == KindCatalog:
		if b.Catalog != nil {
			return errors.New("a bundle has at most one ToolCatalog")
		}
		var c struct {
			typeMeta `json:",inline"`
			Metadata map[string]any  `json:"metadata,omitempty"`
			Spec     catalog.Catalog `json:"spec"`
		}
		if err := codec.DecodeStrict(doc.Data, &c); err != nil {
			return err
		}
		if err := c.Spec.Validate(); err != nil {
			return err
		}
		b.Catalog, b.catalogWhere = &c.Spec, doc.Where()
	case tm.APIVersion == APIVersion && tm.Kind == KindRedaction:
		var r struct {
			typeMeta `json:",inline"`
			Metadata map[string]any `json:"metadata,omitempty"`
			Spec     redact.Spec    `json:"spec"`
		}
		if err := codec.DecodeStrict(doc.Data, &r); err != nil {
			return err
		}
		if len(r.Spec.Rules) == 0 {
			return errors.New("spec.rules is empty")
		}
		// Compiled here too, so that an error names this file and line.
		if _, err := redact.Compile(r.Spec.Rules); err != nil {
			return err
		}
		b.redactions = append(b.redactions, r.Spec.Rules...)
		rules := r.Spec.Rules
		b.matches = append(b.matches, pathCheck{doc: doc, name: "redaction", check: func(declared policy.Declared) []policy.Problem {
			var out []policy.Problem
			for i, rule := range rules {
				problems := policy.MatchPaths(rule.Match, []any{"spec", "rules", i, "match"}, declared)
				problems = append(problems, policy.MatchPaths(rule.Exclude, []any{"spec", "rules", i, "exclude"}, declared)...)
				for _, p := range problems {
					p.Message = "rule " + rule.Name + ": " + p.Message
					out = append(out, p)
				}
			}
			return out
		}})
	case tm.APIVersion == APIVersion && tm.Kind == KindRateLimit:
		name, spec, err := decodeNamed[ratelimit.Spec](doc)
		if err != nil {
			return err
		}
		l, err := ratelimit.Compile(name, spec)
		if err != nil {
			return err
		}
		b.limits = append(b.limits, l)
		b.matches = append(b.matches, keyedCheck(doc, "rate limit", name, spec.Match, spec.Exclude, spec.Key))
	case tm.APIVersion == APIVersion && tm.Kind == KindContainment:
		name, spec, err := decodeNamed[ratelimit.ContainmentSpec](doc)
		if err != nil {
			return err
		}
		c, err := ratelimit.CompileContainment(name, spec)
		if err != nil {
			return err
		}
		b.contain = append(b.contain, c)
		b.matches = append(b.matches, keyedCheck(doc, "containment", name, spec.Match, spec.Exclude, spec.Key))
	case tm.APIVersion == APIVersion && tm.Kind == KindToolPins:
		var d struct {
			typeMeta `json:",inline"`
			Metadata map[string]any `json:"metadata,omitempty"`
			Spec     pins.Spec      `json:"spec"`
		}
		if err := codec.DecodeStrict(doc.Data, &d); err != nil {
			return err
		}
		if b.Pins != nil {
			return fmt.Errorf("a bundle has at most one ToolPins document; the other is at %s", b.pinsWhere)
		}
		p, err := pins.Compile(d.Spec)
		if err != nil {
			return err
		}
		b.Pins, b.pinsWhere = p, doc.Where()
	case tm.APIVersion == APIVersion && tm.Kind == KindTest:
		b.Tests = append(b.Tests, doc)
	case tm.APIVersion == APIVersion && tm.Kind == KindBase:
		var d struct {
			typeMeta `json:",inline"`
			Metadata map[string]any `json:"metadata,omitempty"`
			Spec     Base           `json:"spec"`
		}
		if err := codec.DecodeStrict(doc.Data, &d); err != nil {
			return err
		}
		s3 := strings.HasPrefix(d.Spec.Bundle, "s3://")
		switch {
		case b.base != nil:
			return errors.New("a bundle has at most one BundleBase")
		case d.Spec.Bundle == "":
			return errors.New(`spec.bundle: name the base: "embedded", a directory or an s3:// prefix`)
		case strings.Contains(d.Spec.Bundle, "://") && !s3:
			return fmt.Errorf("spec.bundle %q: a base is \"embedded\", a directory or an s3:// prefix", d.Spec.Bundle)
		case s3 && d.Spec.Version == "":
			return fmt.Errorf("spec.version: a base in S3 is one published version: give its version id (toolgate publish prints it)")
		case !s3 && d.Spec.Version != "":
			return fmt.Errorf("spec.version: only a base in S3 has versions")
		case d.Spec.Digest != "" && !validDigest(d.Spec.Digest):
			return fmt.Errorf("spec.digest %q: want sha256: and 64 hex digits", d.Spec.Digest)
		}
		b.base, b.baseWhere = &d.Spec, doc
	default:
		return fmt.Errorf("unknown document apiVersion %q kind %q", tm.APIVersion, tm.Kind)
	}
	return nil
}

// validDigest reports whether d is a bundle digest: sha256: and 64
// lower-case hex digits.
func validDigest(d string) bool {
	hexPart, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hexPart) != 64 {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil && strings.ToLower(hexPart) == hexPart
}

// SplitDocuments splits a YAML stream at "---" lines, dropping documents that
// hold only comments and blank lines.
func SplitDocuments(file string, data []byte) []Document {
	var docs []Document
	lines := bytes.SplitAfter(data, []byte("\n"))
	start := 0
	flush := func(end int) {
		chunk := bytes.Join(lines[start:end], nil)
		if hasContent(chunk) {
			docs = append(docs, Document{File: file, Line: start + 1, Data: chunk})
		}
	}
	for i, l := range lines {
		if codec.IsSeparator(l) {
			flush(i)
			start = i + 1
		}
	}
	flush(len(lines))
	return docs
}

func hasContent(chunk []byte) bool {
	for _, l := range bytes.Split(chunk, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if len(t) > 0 && t[0] != '#' {
			return true
		}
	}
	return false
}

// decodeNamed decodes a document whose metadata.name names it (a
// RateLimit, a Containment) and returns its name and spec.
func decodeNamed[S any](doc Document) (string, S, error) {
	var r struct {
		typeMeta `json:",inline"`
		Metadata struct {
			Name        string            `json:"name"`
			Annotations map[string]string `json:"annotations,omitempty"`
		} `json:"metadata"`
		Spec S `json:"spec"`
	}
	err := codec.DecodeStrict(doc.Data, &r)
	return r.Metadata.Name, r.Spec, err
}

// keyedCheck checks the paths of a RateLimit's or a Containment's match,
// exclude and key against the attribute document's schema.
func keyedCheck(doc Document, kind, name string, match, exclude *v1alpha1.Match, key []string) pathCheck {
	return pathCheck{doc: doc, name: kind + " " + name, owner: name, check: func(declared policy.Declared) []policy.Problem {
		out := policy.MatchPaths(match, []any{"spec", "match"}, declared)
		out = append(out, policy.MatchPaths(exclude, []any{"spec", "exclude"}, declared)...)
		for i, k := range key {
			out = append(out, policy.FieldPath(k, []any{"spec", "key", i}, declared)...)
		}
		return out
	}}
}

// countedPolicies names the policies whose denials a containment counts:
// all but those that read a tool's definition (what a target listed).
func countedPolicies(policies []string, definitions []string) []string {
	var out []string
	for _, p := range policies {
		if !slices.Contains(definitions, p) {
			out = append(out, p)
		}
	}
	return out
}
