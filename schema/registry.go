package schema

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"golang.org/x/sync/singleflight"

	"github.com/ordo-go/ordo/internal/telemetry"
)

// Registry is a client of a Confluent-compatible schema registry with the
// caches and the compatibility gate ordo needs: a schema's ID is fetched or
// registered once per process, a writer schema once per ID, and no call
// reaches the registry once they are warm.
//
// A Registry is safe for concurrent use. It holds no goroutines and needs no
// closing; its HTTP client belongs to it unless passed in with [ClientOpts].
//
// Every call that reaches the registry (a cache miss of [Registry.Writer] or
// [Registry.Register], every [Registry.Check] and [Registry.Versions]) is
// bounded by the [LookupTimeout], whatever the number of requests and URLs
// it goes through; a call that runs out of it fails with a *[RegistryError]
// for which [IsTransient] is true.
type Registry struct {
	cl      *sr.Client
	level   Level
	timeout time.Duration
	// timedOut is the cause of a context that ran out of the lookup bound,
	// told apart from the caller's own cancellation or deadline.
	timedOut error

	flight singleflight.Group

	mu      sync.RWMutex
	ids     map[regKey]int
	writers map[int]*Writer
	refs    map[refKey]sr.Schema // referenced schemas by subject and version
}

type regKey struct{ subject, text, refs string }

// RegistryOption configures a [Registry]. Only this package can mint one.
type RegistryOption interface{ apply(*registryConfig) }

type registryConfig struct {
	clientOpts []sr.ClientOpt
	level      Level
	timeout    time.Duration
	errs       []error
}

func (c *registryConfig) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
}

type registryOpt func(*registryConfig)

func (f registryOpt) apply(c *registryConfig) { f(c) }

// ClientOpts passes options straight to franz-go's registry client
// (sr.BasicAuth, sr.BearerToken, sr.DialTLSConfig, sr.HTTPClient, ...). It
// is an escape hatch: the options are applied after the URLs given to
// [NewRegistry] and ordo's HTTP client, so an sr.URLs here replaces them
// and an sr.HTTPClient replaces the client (its own Timeout, if any, bounds
// each HTTP request; the [LookupTimeout] still bounds each call). A nil
// entry is a configuration error. Default: none.
func ClientOpts(opts ...sr.ClientOpt) RegistryOption {
	opts = slices.Clone(opts)
	return registryOpt(func(c *registryConfig) {
		for i, o := range opts {
			if o == nil {
				c.fail("ClientOpts: option %d is nil", i+1)
				continue
			}
			c.clientOpts = append(c.clientOpts, o)
		}
	})
}

// DefaultLookupTimeout is the default [LookupTimeout].
const DefaultLookupTimeout = 5 * time.Second

// LookupTimeout bounds the registry round trip of one call: a cache miss of
// [Registry.Writer] or [Registry.Register], a [Registry.Check] or a
// [Registry.Versions], all its HTTP requests (and every URL they try)
// included. The caller's ctx can only shorten it. It must be positive.
// Default: [DefaultLookupTimeout] (5 s).
func LookupTimeout(d time.Duration) RegistryOption {
	return registryOpt(func(c *registryConfig) { c.timeout = d })
}

// GateLevel sets the compatibility level the local gate enforces in
// [Registry.Register], whatever level the registry itself is set to (a
// registry set to NONE cannot let a breaking change through). [None]
// disables the local gate. Default: [Backward].
func GateLevel(l Level) RegistryOption {
	return registryOpt(func(c *registryConfig) { c.level = l })
}

// NewRegistry returns a client of the registry at urls (tried in order). It
// does no I/O and never panics. Each URL must be absolute http or https; it
// may carry credentials (http://user:password@host), which no error of the
// Registry ever shows. Every problem (no URL, a bad URL, a nil option, an
// invalid [GateLevel] or [LookupTimeout], a nil or failing client option)
// is reported at once in one error, an [errors.Join] of errors wrapping
// [ErrInvalidConfig]. The urls slice is copied.
func NewRegistry(urls []string, opts ...RegistryOption) (*Registry, error) {
	cfg := registryConfig{level: Backward, timeout: DefaultLookupTimeout}
	if len(urls) == 0 {
		cfg.fail("no registry URLs")
	}
	urls = slices.Clone(urls)
	for i, u := range urls {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			cfg.fail("registry URL %d %q: want http(s)://host[:port]", i+1, telemetry.Redact(u))
		}
	}
	for i, o := range opts {
		if o == nil {
			cfg.fail("RegistryOption %d is nil", i+1)
			continue
		}
		o.apply(&cfg)
	}
	if cfg.level < None || cfg.level > FullTransitive {
		cfg.fail("gate level %d", int(cfg.level))
	}
	if cfg.timeout <= 0 {
		cfg.fail("lookup timeout %v must be positive", cfg.timeout)
	}
	if len(cfg.errs) > 0 {
		return nil, errors.Join(cfg.errs...)
	}
	cl, err := newClient(urls, cfg.clientOpts)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, telemetry.Redact(err.Error()))
	}
	return &Registry{
		cl: cl, level: cfg.level, timeout: cfg.timeout,
		timedOut: fmt.Errorf("no answer within the lookup timeout of %v", cfg.timeout),
		ids:      map[regKey]int{}, writers: map[int]*Writer{}, refs: map[refKey]sr.Schema{},
	}, nil
}

// newClient builds franz-go's client. Its default HTTP client has a 5 s
// timeout of its own per request; ordo's has none, so the one bound on a
// call is the LookupTimeout, which also covers franz-go going through the
// next URL after a transport failure.
func newClient(urls []string, opts []sr.ClientOpt) (cl *sr.Client, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("registry client option panic: %v", r)
		}
	}()
	return sr.NewClient(append([]sr.ClientOpt{sr.URLs(urls...), sr.HTTPClient(&http.Client{})}, opts...)...)
}

// errNotMade is returned by the methods of a Registry not made by
// NewRegistry (nil or the zero value).
var errNotMade = fmt.Errorf("%w: schema.Registry not made by NewRegistry", ErrInvalidConfig)

func (r *Registry) made() bool { return r != nil && r.cl != nil }

// bound returns ctx bounded by the lookup timeout.
func (r *Registry) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, r.timeout, r.timedOut)
}

// Register returns the ID of avsc under subject, registering it if needed.
// Once an ID is known (cached per subject and normalized schema text) no
// registry call is made; concurrent first calls share one round of requests.
//
// On a miss, if the schema is not yet registered under subject, it must
// pass the local gate (at the [GateLevel], against the latest version, or
// every version for a transitive level) and the registry's own
// compatibility check before it is registered. A refusal is an
// *[IncompatibleError] (errors.Is [ErrIncompatible]) naming the subject,
// level and reason. A schema that does not parse wraps [ErrInvalid]; a
// registry failure is a *[RegistryError] (see [IsTransient]). Cancelling
// ctx abandons the requests this call is making.
//
// refs are the schemas avsc references (see [Reference]), dependencies
// first; they must already be registered at their subjects and versions
// (a missing one matches [ErrSubjectNotFound] or [ErrVersionNotFound]),
// with the texts given (else an error wrapping [ErrInvalid]). The
// compatibility gate sees their types, and the types of the references of
// every version it compares with, as the registry holds them.
func (r *Registry) Register(ctx context.Context, subject, avsc string, refs ...Reference) (int, error) {
	return r.schemaID(ctx, "register", subject, avsc, refs, r.register)
}

// schemaID is Register's and Lookup's shared way: parse avsc with its
// references, answer from the ID cache, else run fetch once for all
// concurrent callers asking the same (verb, subject, text, references)
// and cache what it returns.
func (r *Registry) schemaID(ctx context.Context, verb, subject, avsc string, refs []Reference,
	fetch func(ctx context.Context, subject string, p parsed, refs []Reference) (int, error)) (int, error) {
	if !r.made() {
		return 0, errNotMade
	}
	p, refs, err := parseWithRefs(avsc, refs)
	if err != nil {
		return 0, fmt.Errorf("schema: %s under %q: %w", verb, subject, bare(err))
	}
	key := regKey{subject, p.text, refsKey(refs)}
	r.mu.RLock()
	id, ok := r.ids[key]
	r.mu.RUnlock()
	if ok {
		return id, nil
	}
	v, err := r.do(ctx, verb+"\x00"+subject+"\x00"+p.text+"\x00"+key.refs, func(ctx context.Context) (any, error) {
		return fetch(ctx, subject, p, refs)
	})
	if err != nil {
		return 0, err
	}
	id = v.(int)
	r.mu.Lock()
	r.ids[key] = id
	r.mu.Unlock()
	return id, nil
}

func (r *Registry) register(ctx context.Context, subject string, p parsed, refs []Reference) (int, error) {
	if err := r.checkLocalRefs(ctx, subject, p, refs); err != nil {
		return 0, err
	}
	s := sr.Schema{Schema: p.text, Type: sr.TypeAvro, References: srRefs(refs)}
	ss, err := r.cl.LookupSchema(ctx, subject, s)
	if err == nil {
		return ss.ID, nil // already registered: nothing to check
	}
	if err = wrap(ctx, "look up schema under "+strconv.Quote(subject), err); !errors.Is(err, ErrUnknownSchema) && !errors.Is(err, ErrSubjectNotFound) {
		return 0, err
	}
	if err := r.check(ctx, subject, p, refs, r.level); err != nil {
		return 0, err
	}
	id, err := r.cl.RegisterSchema(ctx, subject, s, -1, -1)
	if err != nil {
		err = wrap(ctx, "register under "+strconv.Quote(subject), err)
		if errors.Is(err, ErrIncompatible) {
			return 0, &IncompatibleError{Subject: subject, Level: r.registryLevel(ctx, subject), Reason: "refused by the registry: " + err.Error()}
		}
		return 0, err
	}
	return id, nil
}

// Check runs the compatibility gate alone: avsc against the schemas
// registered under subject at level, locally and with the registry's own
// compatibility endpoint. It registers nothing. A subject with no versions
// passes. Errors are as for [Registry.Register]; the registry round trip is
// bounded by the [LookupTimeout].
func (r *Registry) Check(ctx context.Context, subject, avsc string, level Level) error {
	if !r.made() {
		return errNotMade
	}
	if level < None || level > FullTransitive {
		return fmt.Errorf("%w: compatibility level %d", ErrInvalidConfig, int(level))
	}
	p, err := parse(avsc)
	if err != nil {
		return fmt.Errorf("schema: check against %q: %w", subject, bare(err))
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	return r.check(ctx, subject, p, nil, level)
}

func (r *Registry) check(ctx context.Context, subject string, p parsed, refs []Reference, level Level) error {
	olds, versions, err := r.existing(ctx, subject, level.transitive())
	if err != nil || len(olds) == 0 {
		return err
	}
	if err := checkParsed(level, p, olds, func(i int) int { return versions[i] }); err != nil {
		var ie *IncompatibleError
		if errors.As(err, &ie) {
			ie.Subject = subject
		}
		return err
	}
	res, err := r.cl.CheckCompatibility(ctx, subject, -1, sr.Schema{Schema: p.text, Type: sr.TypeAvro, References: srRefs(refs)})
	if err != nil {
		return wrap(ctx, "check compatibility with "+strconv.Quote(subject), err)
	}
	if !res.Is {
		reason := "refused by the registry"
		if len(res.Messages) > 0 {
			reason += ": " + strings.Join(res.Messages, "; ")
		}
		return &IncompatibleError{Subject: subject, Level: r.registryLevel(ctx, subject), Reason: reason}
	}
	return nil
}

// existing returns the parsed schemas under subject, oldest first, with
// their versions: the latest only unless all is set. A missing subject has
// none.
func (r *Registry) existing(ctx context.Context, subject string, all bool) ([]parsed, []int, error) {
	var sss []sr.SubjectSchema
	if all {
		var err error
		if sss, err = r.cl.Schemas(ctx, subject); err != nil {
			return notFoundIsEmpty(wrap(ctx, "list versions of "+strconv.Quote(subject), err))
		}
	} else {
		ss, err := r.cl.SchemaByVersion(ctx, subject, -1)
		if err != nil {
			return notFoundIsEmpty(wrap(ctx, "latest version of "+strconv.Quote(subject), err))
		}
		sss = []sr.SubjectSchema{ss}
	}
	olds := make([]parsed, 0, len(sss))
	versions := make([]int, 0, len(sss))
	for _, ss := range sss {
		p, err := r.parseRegistered(ctx, ss.Schema)
		if err != nil {
			return nil, nil, fmt.Errorf("schema: %q version %d: %w", subject, ss.Version, bare(err))
		}
		olds = append(olds, p)
		versions = append(versions, ss.Version)
	}
	return olds, versions, nil
}

func notFoundIsEmpty(err error) ([]parsed, []int, error) {
	if errors.Is(err, ErrSubjectNotFound) || errors.Is(err, ErrVersionNotFound) {
		return nil, nil, nil
	}
	return nil, nil, err
}

// registryLevel is the level the registry applies to subject, for error
// messages; Backward (the registry's default) if it cannot be fetched.
func (r *Registry) registryLevel(ctx context.Context, subject string) Level {
	res := r.cl.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), subject)
	if len(res) == 1 && res[0].Err == nil {
		if l, err := ParseLevel(res[0].Level.String()); err == nil {
			return l
		}
	}
	return Backward
}

// Writer returns the writer schema registered under id, with the schemas
// it references (schema references, resolved through the registry,
// recursively, each subject version fetched once). It is cached: once
// warm no registry call is made, and concurrent first calls share one
// request, bounded by the [LookupTimeout]. Its errors, as [IsTransient]
// classifies them:
//
//   - an ID the registry does not know matches [ErrUnknownSchema]: permanent
//     (the registry is not asked to confirm it again; a caller that wants
//     a confirmation window retries it itself);
//   - a writer schema this reader cannot use (not Avro, does not parse, a
//     reference to a subject or version the registry answers does not
//     exist, or to a schema that is not Avro) matches [ErrUnusableSchema]:
//     permanent, the record is poison;
//   - a transport failure, no answer within the [LookupTimeout], a 5xx or
//     a 429 is a *[RegistryError] that is transient: an outage, retry it.
//
// Cancelling ctx abandons the request this call is making.
func (r *Registry) Writer(ctx context.Context, id int) (*Writer, error) {
	if !r.made() {
		return nil, errNotMade
	}
	r.mu.RLock()
	w, ok := r.writers[id]
	r.mu.RUnlock()
	if ok {
		return w, nil
	}
	v, err := r.do(ctx, "writer\x00"+strconv.Itoa(id), func(ctx context.Context) (any, error) {
		s, err := r.cl.SchemaByID(ctx, id)
		if err != nil {
			return nil, wrap(ctx, fmt.Sprintf("fetch schema %d", id), err)
		}
		if s.Type != sr.TypeAvro {
			return nil, fmt.Errorf("schema: schema %d: %w: type %s, not Avro", id, bare(ErrUnusableSchema), s.Type)
		}
		refs, err := r.resolveRefs(ctx, s.References)
		if err != nil {
			if IsTransient(err) {
				return nil, fmt.Errorf("schema: schema %d: %w", id, bare(err))
			}
			// A reference the registry answered does not exist: the
			// record can never be decoded.
			return nil, fmt.Errorf("schema: schema %d: %w: %w", id, bare(ErrUnusableSchema), bare(err))
		}
		p, err := parse(s.Schema, refs...)
		if err != nil {
			return nil, fmt.Errorf("schema: schema %d: %w: %w", id, bare(ErrUnusableSchema), bare(err))
		}
		return &Writer{id: id, p: p}, nil
	})
	if err != nil {
		return nil, err
	}
	w = v.(*Writer)
	r.mu.Lock()
	r.writers[id] = w
	r.mu.Unlock()
	return w, nil
}

// Versions returns the schema texts registered under subject, oldest
// first. It always asks the registry, within the [LookupTimeout]. A missing
// subject matches [ErrSubjectNotFound].
func (r *Registry) Versions(ctx context.Context, subject string) ([]string, error) {
	if !r.made() {
		return nil, errNotMade
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	sss, err := r.cl.Schemas(ctx, subject)
	if err != nil {
		return nil, wrap(ctx, "list versions of "+strconv.Quote(subject), err)
	}
	out := make([]string, len(sss))
	for i, ss := range sss {
		out[i] = ss.Schema.Schema
	}
	return out, nil
}

// do runs fn once for all concurrent callers with the same key, bounded by
// the lookup timeout from the moment this caller arrived. fn runs with the
// first caller's ctx. If that caller gives up (its ctx cancelled or past
// its own deadline), the others would see an error that is not theirs, so a
// caller whose own ctx is alive runs the flight again (at most twice). A
// flight that ran out of the lookup timeout, or whose HTTP client timed out
// on its own, is not run again: every caller gets the failure, so a lookup
// against a hanging registry takes one lookup timeout, not three.
func (r *Registry) do(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	ctx, cancel := r.bound(ctx)
	defer cancel()
	for attempt := 1; ; attempt++ {
		v, err, _ := r.flight.Do(key, func() (any, error) {
			v, err := fn(ctx)
			if err != nil && ctx.Err() != nil && context.Cause(ctx) != r.timedOut {
				return nil, &abandoned{err}
			}
			return v, err
		})
		var ab *abandoned
		if errors.As(err, &ab) {
			if ctx.Err() == nil && attempt < 3 {
				continue
			}
			err = ab.err
		}
		return v, err
	}
}

// abandoned carries the error of a flight whose caller went away.
type abandoned struct{ err error }

func (a *abandoned) Error() string { return a.err.Error() }
