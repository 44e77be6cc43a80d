package schema

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/sr"
	"golang.org/x/sync/singleflight"
)

// Registry is a client of a Confluent-compatible schema registry with the
// caches and the compatibility gate ordo needs: a schema's ID is fetched or
// registered once per process, a writer schema once per ID, and no call
// reaches the registry once they are warm.
//
// A Registry is safe for concurrent use. It holds no goroutines and needs no
// closing; its HTTP client belongs to it unless passed in with [ClientOpts].
type Registry struct {
	cl    *sr.Client
	level Level

	flight singleflight.Group

	mu      sync.RWMutex
	ids     map[regKey]int
	writers map[int]*Writer
}

type regKey struct{ subject, text string }

// RegistryOption configures a [Registry]. Only this package can mint one.
type RegistryOption interface{ apply(*registryConfig) }

type registryConfig struct {
	clientOpts []sr.ClientOpt
	level      Level
}

type registryOpt func(*registryConfig)

func (f registryOpt) apply(c *registryConfig) { f(c) }

// ClientOpts passes options straight to franz-go's registry client
// (sr.BasicAuth, sr.BearerToken, sr.DialTLSConfig, sr.HTTPClient, ...). It
// is an escape hatch: the options are applied after the URLs given to
// [NewRegistry], so an sr.URLs here replaces them. Default: none.
func ClientOpts(opts ...sr.ClientOpt) RegistryOption {
	opts = slices.Clone(opts)
	return registryOpt(func(c *registryConfig) { c.clientOpts = append(c.clientOpts, opts...) })
}

// GateLevel sets the compatibility level the local gate enforces in
// [Registry.Register], whatever level the registry itself is set to (a
// registry set to NONE cannot let a breaking change through). [None]
// disables the local gate. Default: [Backward].
func GateLevel(l Level) RegistryOption {
	return registryOpt(func(c *registryConfig) { c.level = l })
}

// NewRegistry returns a client of the registry at urls (tried in order). It
// does no I/O. Each URL must be absolute http or https; a bad URL, an
// invalid level or a client option error is an error wrapping
// [ErrInvalidConfig]. The urls slice is copied.
func NewRegistry(urls []string, opts ...RegistryOption) (*Registry, error) {
	if len(urls) == 0 {
		return nil, fmt.Errorf("%w: no registry URLs", ErrInvalidConfig)
	}
	urls = slices.Clone(urls)
	for _, u := range urls {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, fmt.Errorf("%w: registry URL %q: want http(s)://host[:port]", ErrInvalidConfig, u)
		}
	}
	cfg := registryConfig{level: Backward}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.level < None || cfg.level > FullTransitive {
		return nil, fmt.Errorf("%w: gate level %d", ErrInvalidConfig, int(cfg.level))
	}
	cl, err := sr.NewClient(append([]sr.ClientOpt{sr.URLs(urls...)}, cfg.clientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return &Registry{cl: cl, level: cfg.level, ids: map[regKey]int{}, writers: map[int]*Writer{}}, nil
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
// registry failure is a *[RegistryError]. Cancelling ctx abandons the
// requests this call is making.
func (r *Registry) Register(ctx context.Context, subject, avsc string) (int, error) {
	p, err := parse(avsc)
	if err != nil {
		return 0, fmt.Errorf("schema: register under %q: %w", subject, err)
	}
	key := regKey{subject, p.text}
	r.mu.RLock()
	id, ok := r.ids[key]
	r.mu.RUnlock()
	if ok {
		return id, nil
	}
	v, err := r.do(ctx, "register\x00"+subject+"\x00"+p.text, func() (any, error) {
		return r.register(ctx, subject, p)
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

func (r *Registry) register(ctx context.Context, subject string, p parsed) (int, error) {
	s := sr.Schema{Schema: p.text, Type: sr.TypeAvro}
	ss, err := r.cl.LookupSchema(ctx, subject, s)
	if err == nil {
		return ss.ID, nil // already registered: nothing to check
	}
	if err = wrap("look up schema under "+strconv.Quote(subject), err); !errors.Is(err, ErrUnknownSchema) && !errors.Is(err, ErrSubjectNotFound) {
		return 0, err
	}
	if err := r.check(ctx, subject, p, r.level); err != nil {
		return 0, err
	}
	id, err := r.cl.RegisterSchema(ctx, subject, s, -1, -1)
	if err != nil {
		err = wrap("register under "+strconv.Quote(subject), err)
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
// passes. Errors are as for [Registry.Register].
func (r *Registry) Check(ctx context.Context, subject, avsc string, level Level) error {
	if level < None || level > FullTransitive {
		return fmt.Errorf("%w: compatibility level %d", ErrInvalidConfig, int(level))
	}
	p, err := parse(avsc)
	if err != nil {
		return fmt.Errorf("schema: check against %q: %w", subject, err)
	}
	return r.check(ctx, subject, p, level)
}

func (r *Registry) check(ctx context.Context, subject string, p parsed, level Level) error {
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
	res, err := r.cl.CheckCompatibility(ctx, subject, -1, sr.Schema{Schema: p.text, Type: sr.TypeAvro})
	if err != nil {
		return wrap("check compatibility with "+strconv.Quote(subject), err)
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
			return notFoundIsEmpty(wrap("list versions of "+strconv.Quote(subject), err))
		}
	} else {
		ss, err := r.cl.SchemaByVersion(ctx, subject, -1)
		if err != nil {
			return notFoundIsEmpty(wrap("latest version of "+strconv.Quote(subject), err))
		}
		sss = []sr.SubjectSchema{ss}
	}
	olds := make([]parsed, 0, len(sss))
	versions := make([]int, 0, len(sss))
	for _, ss := range sss {
		p, err := parse(ss.Schema.Schema)
		if err != nil {
			return nil, nil, fmt.Errorf("schema: %q version %d: %w", subject, ss.Version, err)
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

// Writer returns the writer schema registered under id. It is cached: once
// warm no registry call is made, and concurrent first calls share one
// request. An ID the registry does not know is an error matching
// [ErrUnknownSchema] (dead-letter the record); a transport failure or a 5xx
// is a *[RegistryError] that does not (retry it). A schema this reader
// cannot use (not Avro, references, does not parse) matches
// [ErrUnusableSchema]: the record is poison, not an outage. Cancelling ctx abandons the
// request this call is making.
func (r *Registry) Writer(ctx context.Context, id int) (*Writer, error) {
	r.mu.RLock()
	w, ok := r.writers[id]
	r.mu.RUnlock()
	if ok {
		return w, nil
	}
	v, err := r.do(ctx, "writer\x00"+strconv.Itoa(id), func() (any, error) {
		s, err := r.cl.SchemaByID(ctx, id)
		if err != nil {
			return nil, wrap(fmt.Sprintf("fetch schema %d", id), err)
		}
		if s.Type != sr.TypeAvro {
			return nil, fmt.Errorf("schema: schema %d: %w: type %s, not Avro", id, ErrUnusableSchema, s.Type)
		}
		if len(s.References) > 0 {
			return nil, fmt.Errorf("schema: schema %d: %w: schema references are not supported", id, ErrUnusableSchema)
		}
		w, err := NewWriter(id, s.Schema)
		if err != nil {
			return nil, fmt.Errorf("schema: schema %d: %w: %w", id, ErrUnusableSchema, err)
		}
		return w, nil
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
// first. It always asks the registry. A missing subject matches
// [ErrSubjectNotFound].
func (r *Registry) Versions(ctx context.Context, subject string) ([]string, error) {
	sss, err := r.cl.Schemas(ctx, subject)
	if err != nil {
		return nil, wrap("list versions of "+strconv.Quote(subject), err)
	}
	out := make([]string, len(sss))
	for i, ss := range sss {
		out[i] = ss.Schema.Schema
	}
	return out, nil
}

// do runs fn once for all concurrent callers with the same key. fn runs
// with the first caller's ctx; if that caller gives up, the others would
// see its cancellation, so a caller whose own ctx is alive runs the flight
// again (at most twice) instead of returning an error that is not its own.
func (r *Registry) do(ctx context.Context, key string, fn func() (any, error)) (any, error) {
	for attempt := 1; ; attempt++ {
		v, err, _ := r.flight.Do(key, fn)
		if err != nil && ctx.Err() == nil && attempt < 3 &&
			(errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			continue
		}
		return v, err
	}
}
