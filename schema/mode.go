package schema

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/sr"
)

// Mode is how a writer finds the schema ID it frames records with: the
// ways organisations run their registries.
type Mode int

const (
	// AutoRegister registers the writer's schema if it is not registered
	// yet, after the compatibility gate ([Registry.Register]). It is the
	// default: right for development and for services trusted to evolve
	// their own subjects.
	AutoRegister Mode = iota
	// LookupOnly finds the ID of the writer's exact schema under the
	// subject and never registers ([Registry.Lookup]): the schema must
	// already be there, registered by CI or a schema owner, and the
	// service may run with read-only registry credentials.
	LookupOnly
	// UseLatest writes with the subject's latest version, whatever the
	// writer's own schema text ([Registry.Latest]), after checking that
	// the Go type binds to it: the schema is owned and evolved centrally,
	// and services follow it.
	UseLatest
)

// String returns "auto-register", "lookup-only" or "use-latest".
func (m Mode) String() string {
	switch m {
	case AutoRegister:
		return "auto-register"
	case LookupOnly:
		return "lookup-only"
	case UseLatest:
		return "use-latest"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ErrNotRegistered is wrapped by the error of a [LookupOnly] writer whose
// schema is not registered under its subject, and of a [UseLatest] writer
// whose subject has no version. It is a verdict, not an outage: register
// the schema (or fix the subject) and start again.
var ErrNotRegistered = errors.New("schema: not registered")

// ModeError reports a writer's schema refused by its registration mode:
// which mode, which subject, and why. Unwrap returns the cause:
// [ErrNotRegistered] joined with the registry's answer, a *[BindError]
// (the Go type does not bind to the latest version), or a
// *[RegistryError] (an outage: [IsTransient] is true).
type ModeError struct {
	Mode    Mode
	Subject string
	Reason  string
	Err     error
}

// Error names the mode, the subject and the reason.
func (e *ModeError) Error() string {
	return fmt.Sprintf("schema: %s under subject %q: %s: %v", e.Mode, e.Subject, e.Reason, bare(e.Err))
}

// Unwrap returns the cause.
func (e *ModeError) Unwrap() error { return e.Err }

// Lookup returns the ID of avsc (with refs, as for [Registry.Register])
// under subject, and never registers it: the [LookupOnly] mode. A found ID
// is cached, as Register's are (and Register's serve it). A schema that
// is not registered under subject, or a subject that does not exist, is
// a *[ModeError] wrapping [ErrNotRegistered]; the schema is matched as
// the registry matches it (after its own normalisation), not by
// compatibility. Other errors are as for Register; the round trip is
// bounded by the [LookupTimeout].
func (r *Registry) Lookup(ctx context.Context, subject, avsc string, refs ...Reference) (int, error) {
	return r.schemaID(ctx, "look up", subject, avsc, refs, r.lookup)
}

// lookup asks the registry for the ID of p under subject, never
// registering it.
func (r *Registry) lookup(ctx context.Context, subject string, p parsed, refs []Reference) (int, error) {
	ss, err := r.cl.LookupSchema(ctx, subject, sr.Schema{Schema: p.text, Type: sr.TypeAvro, References: srRefs(refs)})
	if err == nil {
		return ss.ID, nil
	}
	err = wrap(ctx, "look up schema under "+strconv.Quote(subject), err)
	if errors.Is(err, ErrUnknownSchema) || errors.Is(err, ErrSubjectNotFound) {
		return 0, &ModeError{Mode: LookupOnly, Subject: subject,
			Reason: "the schema is not registered under the subject, and lookup-only never registers (register it first, e.g. from CI)",
			Err:    fmt.Errorf("%w: %w", ErrNotRegistered, bare(err))}
	}
	return 0, &ModeError{Mode: LookupOnly, Subject: subject, Reason: "the registry could not be asked", Err: err}
}

// Registered is a schema as the registry holds it under a subject.
type Registered struct {
	Subject string
	Version int
	ID      int
	// Schema is the schema's text as registered.
	Schema string
	// References are the schemas it references, with their texts,
	// dependencies first (every reference of a reference included), ready
	// for [WithReferences].
	References []Reference
}

// Latest returns the latest version registered under subject, its
// references resolved: what a [UseLatest] writer writes with. It always
// asks the registry (a subject's latest version changes), within the
// [LookupTimeout]. A subject with no version is a *[ModeError] wrapping
// [ErrNotRegistered]; a reference that cannot be resolved, or a schema
// that is not Avro, a *ModeError wrapping the cause.
func (r *Registry) Latest(ctx context.Context, subject string) (Registered, error) {
	if !r.made() {
		return Registered{}, errNotMade
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	fail := func(reason string, err error) (Registered, error) {
		return Registered{}, &ModeError{Mode: UseLatest, Subject: subject, Reason: reason, Err: err}
	}
	ss, err := r.cl.SchemaByVersion(ctx, subject, -1)
	if err != nil {
		err = wrap(ctx, "latest version of "+strconv.Quote(subject), err)
		if errors.Is(err, ErrSubjectNotFound) || errors.Is(err, ErrVersionNotFound) {
			return fail("the subject has no version to use", fmt.Errorf("%w: %w", ErrNotRegistered, bare(err)))
		}
		return fail("the registry could not be asked", err)
	}
	if ss.Type != sr.TypeAvro {
		return fail(fmt.Sprintf("version %d", ss.Version), fmt.Errorf("%w: type %s, not Avro", ErrUnusableSchema, ss.Type))
	}
	refs, err := r.resolveReferences(ctx, ss.References)
	if err != nil {
		return fail(fmt.Sprintf("version %d: resolving its references", ss.Version), err)
	}
	return Registered{Subject: subject, Version: ss.Version, ID: ss.ID, Schema: ss.Schema.Schema, References: refs}, nil
}
