package schema

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/sr"
)

// Reference is a schema reference: a named type that a schema uses by name
// but that another schema defines, registered under Subject at Version.
// This is how organisations share types (a com.acme.Money used by every
// payment event) without copying them into every schema.
type Reference struct {
	// Name is the full name of the referenced type, e.g. "com.acme.Money"
	// (for Avro, the registry's reference name is the type's full name).
	Name string
	// Subject and Version locate the referenced schema in the registry.
	// Version must be at least 1: a reference pins one version.
	Subject string
	Version int
	// Schema is the referenced schema's text, which must be the one
	// registered at Subject and Version (a codec needs it to bind its Go
	// type; [Registry.Register] checks that it matches).
	Schema string
}

// CodecOption configures [NewCodec]. Only this package can mint one.
type CodecOption interface{ applyCodec(*codecConfig) }

type codecConfig struct {
	refs []Reference
}

type codecOpt func(*codecConfig)

func (f codecOpt) applyCodec(c *codecConfig) { f(c) }

// WithReferences gives [NewCodec] the schemas that its schema references,
// dependencies first (a referenced schema that itself uses another's type
// comes after that one). The codec binds its Go type across all of them,
// and [Registry.Register] sends them as the schema's references. The
// default is none. What it costs: nothing per record; one registry call
// per reference, once, when the schema is registered.
func WithReferences(refs ...Reference) CodecOption {
	refs = slices.Clone(refs)
	return codecOpt(func(c *codecConfig) { c.refs = append(c.refs, refs...) })
}

// checkRefs validates references given by a caller and returns their texts.
func checkRefs(refs []Reference) ([]string, error) {
	var errs []error
	texts := make([]string, len(refs))
	for i, r := range refs {
		switch {
		case r.Name == "" || r.Subject == "":
			errs = append(errs, fmt.Errorf("%w: reference %d: empty Name or Subject", ErrInvalidConfig, i+1))
		case r.Version < 1:
			errs = append(errs, fmt.Errorf("%w: reference %q: version %d, want at least 1", ErrInvalidConfig, r.Name, r.Version))
		}
		texts[i] = r.Schema
	}
	return texts, errors.Join(errs...)
}

func srRefs(refs []Reference) []sr.SchemaReference {
	if len(refs) == 0 {
		return nil
	}
	out := make([]sr.SchemaReference, len(refs))
	for i, r := range refs {
		out[i] = sr.SchemaReference{Name: r.Name, Subject: r.Subject, Version: r.Version}
	}
	return out
}

// refsKey identifies a list of references in a cache key.
func refsKey(refs []Reference) string {
	var b strings.Builder
	for _, r := range refs {
		b.WriteString(r.Name + "\x00" + r.Subject + "\x00" + strconv.Itoa(r.Version) + "\x00")
	}
	return b.String()
}

// maxRefDepth bounds a chain of references (a references b references
// c ...); a registry that answers with a longer one, or a cycle, is
// refused.
const maxRefDepth = 32

type refKey struct {
	subject string
	version int
}

// resolveRefs fetches the schemas refs point to, and theirs, depth first,
// and returns their texts with every dependency before its dependant, each
// once (see resolveReferences).
func (r *Registry) resolveRefs(ctx context.Context, refs []sr.SchemaReference) ([]string, error) {
	rs, err := r.resolveReferences(ctx, refs)
	if err != nil {
		return nil, err
	}
	texts := make([]string, len(rs))
	for i, ref := range rs {
		texts[i] = ref.Schema
	}
	return texts, nil
}

// resolveReferences fetches the schemas refs point to, and theirs, depth
// first, and returns them with their texts, every dependency before its
// dependant, each once. Fetched versions are cached: a version's text
// never changes. A reference that is not there is an error matching
// [ErrSubjectNotFound] or [ErrVersionNotFound]; one to a schema that is
// not Avro, or a chain deeper than maxRefDepth (a cycle), matches
// [ErrUnusableSchema]; an outage is a transient *[RegistryError].
func (r *Registry) resolveReferences(ctx context.Context, refs []sr.SchemaReference) ([]Reference, error) {
	var (
		out  []Reference
		seen = map[refKey]bool{}
	)
	var walk func(refs []sr.SchemaReference, depth int) error
	walk = func(refs []sr.SchemaReference, depth int) error {
		if depth > maxRefDepth {
			return fmt.Errorf("%w: references nested deeper than %d (a cycle?)", ErrUnusableSchema, maxRefDepth)
		}
		for _, ref := range refs {
			k := refKey{ref.Subject, ref.Version}
			if seen[k] {
				continue
			}
			s, err := r.refSchema(ctx, k)
			if err != nil {
				return fmt.Errorf("reference %q (subject %q version %d): %w", ref.Name, ref.Subject, ref.Version, bare(err))
			}
			if err := walk(s.References, depth+1); err != nil {
				return err
			}
			seen[k] = true
			out = append(out, Reference{Name: ref.Name, Subject: ref.Subject, Version: ref.Version, Schema: s.Schema})
		}
		return nil
	}
	return out, walk(refs, 1)
}

// refSchema returns the schema registered under k, cached.
func (r *Registry) refSchema(ctx context.Context, k refKey) (sr.Schema, error) {
	r.mu.RLock()
	s, ok := r.refs[k]
	r.mu.RUnlock()
	if ok {
		return s, nil
	}
	ss, err := r.cl.SchemaByVersion(ctx, k.subject, k.version)
	if err != nil {
		return sr.Schema{}, wrap(ctx, fmt.Sprintf("fetch %q version %d", k.subject, k.version), err)
	}
	if ss.Type != sr.TypeAvro {
		return sr.Schema{}, fmt.Errorf("%w: type %s, not Avro", ErrUnusableSchema, ss.Type)
	}
	if k.version > 0 {
		r.mu.Lock()
		r.refs[k] = ss.Schema
		r.mu.Unlock()
	}
	return ss.Schema, nil
}

// parseRegistered parses a schema as the registry holds it, its references
// resolved through the registry.
func (r *Registry) parseRegistered(ctx context.Context, s sr.Schema) (parsed, error) {
	texts, err := r.resolveRefs(ctx, s.References)
	if err != nil {
		return parsed{}, err
	}
	return parse(s.Schema, texts...)
}

// checkLocalRefs checks that the references' texts the caller gave are the
// ones registered: p (parsed with them) and the schema parsed with the
// registry's must be the same schema.
func (r *Registry) checkLocalRefs(ctx context.Context, subject string, p parsed, refs []Reference) error {
	if len(refs) == 0 {
		return nil
	}
	reg, err := r.parseRegistered(ctx, sr.Schema{Schema: p.text, References: srRefs(refs)})
	if err != nil {
		return fmt.Errorf("schema: register under %q: %w", subject, bare(err))
	}
	if reg.fp != p.fp {
		return fmt.Errorf("schema: register under %q: %w: the referenced schemas given differ from those registered at the references' subjects and versions", subject, bare(ErrInvalid))
	}
	return nil
}

// parseWithRefs checks refs and parses avsc with them.
func parseWithRefs(avsc string, refs []Reference) (parsed, []Reference, error) {
	texts, err := checkRefs(refs)
	if err != nil {
		return parsed{}, nil, err
	}
	p, err := parse(avsc, texts...)
	return p, slices.Clone(refs), err
}
