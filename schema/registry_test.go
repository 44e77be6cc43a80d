package schema

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// counter counts the HTTP requests a Registry makes.
type counter struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(req)
}

func newTestRegistry(t *testing.T, opts ...RegistryOption) (*Registry, *srfake.Registry, *counter) {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	cnt := &counter{next: http.DefaultTransport}
	opts = append([]RegistryOption{ClientOpts(sr.HTTPClient(&http.Client{Transport: cnt, Timeout: 5 * time.Second}))}, opts...)
	reg, err := NewRegistry([]string{fake.URL()}, opts...)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return reg, fake, cnt
}

// TestRegistryCaching protects the budget "no registry call per record once
// schemas are cached", for both Register and Writer.
func TestRegistryCaching(t *testing.T) {
	reg, _, cnt := newTestRegistry(t)
	ctx := context.Background()
	id, err := reg.Register(ctx, "users-value", userV1Schema)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	w, err := reg.Writer(ctx, id)
	if err != nil {
		t.Fatalf("Writer: %v", err)
	}
	if w.ID() != id || w.Name() != "t.User" {
		t.Fatalf("Writer = %d %q", w.ID(), w.Name())
	}
	warm := cnt.n.Load()
	for range 100 {
		if got, err := reg.Register(ctx, "users-value", userV1Schema); err != nil || got != id {
			t.Fatalf("Register = %d, %v", got, err)
		}
		// Whitespace differences normalize to the same cache entry.
		if got, err := reg.Register(ctx, "users-value", strings.ReplaceAll(userV1Schema, "\n\t\t", " ")); err != nil || got != id {
			t.Fatalf("Register (reformatted) = %d, %v", got, err)
		}
		if got, err := reg.Writer(ctx, id); err != nil || got != w {
			t.Fatalf("Writer = %v, %v", got, err)
		}
	}
	if n := cnt.n.Load() - warm; n != 0 {
		t.Fatalf("%d registry calls once warm, want 0", n)
	}
}

// TestRegistrySingleFlight protects against a thundering herd at startup:
// concurrent first calls share one round of requests.
func TestRegistrySingleFlight(t *testing.T) {
	reg, fake, cnt := newTestRegistry(t)
	// Slow every request down so the callers really overlap.
	fake.Intercept(func(http.ResponseWriter, *http.Request) bool { time.Sleep(30 * time.Millisecond); return false })
	ctx := context.Background()

	// One registration on its own, to learn how many requests it takes.
	if _, err := reg.Register(ctx, "solo-value", userV1Schema); err != nil {
		t.Fatal(err)
	}
	single := cnt.n.Load()
	cnt.n.Store(0)

	const callers = 32
	var wg sync.WaitGroup
	ids := make([]int, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { ids[i], errs[i] = reg.Register(ctx, "herd-value", userV1Schema) })
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("caller %d: id %d err %v", i, ids[i], errs[i])
		}
	}
	if n := cnt.n.Load(); n > single {
		t.Fatalf("%d concurrent Register calls made %d requests, one call makes %d", callers, n, single)
	}

	fresh, _ := NewRegistry([]string{fake.URL()}, ClientOpts(sr.HTTPClient(&http.Client{Transport: cnt})))
	cnt.n.Store(0)
	for range callers {
		wg.Go(func() {
			if _, err := fresh.Writer(ctx, ids[0]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := cnt.n.Load(); n != 1 {
		t.Fatalf("%d concurrent Writer calls made %d requests, want 1", callers, n)
	}
}

// TestRegistryErrors protects the error contract consumers rely on: an
// unknown ID is ErrUnknownSchema (dead-letter), an outage is not (retry),
// and errors.Is/As work through franz-go's ResponseError.
func TestRegistryErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("unknown id", func(t *testing.T) {
		reg, _, _ := newTestRegistry(t)
		_, err := reg.Writer(ctx, 999)
		if !errors.Is(err, ErrUnknownSchema) {
			t.Fatalf("err = %v, want ErrUnknownSchema", err)
		}
		var resp *sr.ResponseError
		if !errors.As(err, &resp) || resp.ErrorCode != 40403 {
			t.Fatalf("errors.As(*sr.ResponseError) failed: %v", err)
		}
		if errors.Is(err, ErrSubjectNotFound) {
			t.Fatal("40403 matched ErrSubjectNotFound")
		}
	})
	t.Run("5xx is not unknown", func(t *testing.T) {
		reg, fake, _ := newTestRegistry(t)
		fake.Intercept(func(w http.ResponseWriter, _ *http.Request) bool {
			w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			w.WriteHeader(http.StatusInternalServerError)
			_ = json.NewEncoder(w).Encode(map[string]any{"error_code": 50001, "message": "store error"})
			return true
		})
		_, err := reg.Writer(ctx, 1)
		var re *RegistryError
		if errors.Is(err, ErrUnknownSchema) || !errors.As(err, &re) || !re.Temporary() || re.Code != 50001 {
			t.Fatalf("err = %v, want a temporary RegistryError that is not ErrUnknownSchema", err)
		}
	})
	t.Run("transport failure is not unknown", func(t *testing.T) {
		fake := srfake.New()
		url := fake.URL()
		fake.Close()
		reg, err := NewRegistry([]string{url})
		if err != nil {
			t.Fatal(err)
		}
		_, err = reg.Writer(ctx, 1)
		var re *RegistryError
		if err == nil || errors.Is(err, ErrUnknownSchema) || !errors.As(err, &re) || !re.Temporary() {
			t.Fatalf("err = %v, want a temporary RegistryError", err)
		}
	})
	t.Run("subject not found", func(t *testing.T) {
		reg, _, _ := newTestRegistry(t)
		if _, err := reg.Versions(ctx, "nope"); !errors.Is(err, ErrSubjectNotFound) {
			t.Fatalf("err = %v, want ErrSubjectNotFound", err)
		}
	})
	t.Run("invalid schema", func(t *testing.T) {
		reg, _, _ := newTestRegistry(t)
		if _, err := reg.Register(ctx, "x-value", `{"type":`); !errors.Is(err, ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
		fake := srfake.New()
		defer fake.Close()
		fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/versions") {
				return false
			}
			w.WriteHeader(http.StatusUnprocessableEntity)
			_ = json.NewEncoder(w).Encode(map[string]any{"error_code": 42201, "message": "Invalid schema"})
			return true
		})
		reg2, _ := NewRegistry([]string{fake.URL()})
		// The registry's refusal matches both sentinels: ErrInvalid says
		// "the schema is bad" whoever found it.
		if _, err := reg2.Register(ctx, "x-value", userV1Schema); !errors.Is(err, ErrInvalidSchema) || !errors.Is(err, ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalidSchema and ErrInvalid", err)
		}
	})
}

// TestRegistryGateRefusesUnderNone protects the promise that a registry set
// to NONE cannot let a breaking change through.
func TestRegistryGateRefusesUnderNone(t *testing.T) {
	reg, fake, _ := newTestRegistry(t)
	ctx := context.Background()
	if _, err := reg.Register(ctx, "users-value", userV1Schema); err != nil {
		t.Fatal(err)
	}
	if err := fake.SetCompat("users-value", sr.CompatNone); err != nil {
		t.Fatal(err)
	}
	_, err := reg.Register(ctx, "users-value", userV3Schema)
	var ie *IncompatibleError
	if !errors.As(err, &ie) || !errors.Is(err, ErrIncompatible) {
		t.Fatalf("err = %v, want *IncompatibleError", err)
	}
	if ie.Subject != "users-value" || ie.Level != Backward || ie.Version != 1 || !strings.Contains(ie.Reason, "email") {
		t.Fatalf("IncompatibleError = %+v", ie)
	}
	if vs, _ := reg.Versions(ctx, "users-value"); len(vs) != 1 {
		t.Fatalf("%d versions registered, want 1", len(vs))
	}
	// The compatible change goes through.
	if _, err := reg.Register(ctx, "users-value", userV2Schema); err != nil {
		t.Fatalf("compatible change: %v", err)
	}
	vs, err := reg.Versions(ctx, "users-value")
	if err != nil || len(vs) != 2 || !strings.Contains(vs[1], "email") {
		t.Fatalf("Versions = %v, %v; want v1 then v2", vs, err)
	}
}

// TestRegistryRegistryRefusal protects that the registry's own verdict is
// honoured too.
func TestRegistryRegistryRefusal(t *testing.T) {
	reg, fake, _ := newTestRegistry(t, GateLevel(None))
	ctx := context.Background()
	if _, err := reg.Register(ctx, "users-value", userV1Schema); err != nil {
		t.Fatal(err)
	}
	fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/compatibility/") {
			return false
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"is_compatible": false, "messages": []string{"READER_FIELD_MISSING_DEFAULT_VALUE"}})
		return true
	})
	_, err := reg.Register(ctx, "users-value", userV3Schema)
	if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "READER_FIELD_MISSING_DEFAULT_VALUE") {
		t.Fatalf("err = %v, want the registry's refusal", err)
	}
}

const cancelledSchema = `{"type":"record","name":"Cancelled","namespace":"com.example.orders","fields":[
	{"name":"order_id","type":"string"}]}`

// TestSubjectStrategies protects subject naming and the plain error for a
// second record type under the topic strategy.
func TestSubjectStrategies(t *testing.T) {
	tests := []struct {
		s    SubjectStrategy
		want string
		name string
	}{
		{TopicName, "orders-value", "TopicName"},
		{RecordName, "com.example.orders.Created", "RecordName"},
		{TopicRecordName, "orders-com.example.orders.Created", "TopicRecordName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Subject("orders", "com.example.orders.Created"); got != tt.want {
				t.Fatalf("Subject = %q, want %q", got, tt.want)
			}
			if tt.s.String() != tt.name {
				t.Fatalf("String = %q", tt.s.String())
			}
		})
	}

	reg, _, _ := newTestRegistry(t)
	ctx := context.Background()
	created := mustCodec[Created](t, createdV1)
	for _, s := range []SubjectStrategy{TopicName, RecordName, TopicRecordName} {
		if _, err := reg.Register(ctx, s.Subject("orders", created.Name()), created.Schema()); err != nil {
			t.Fatalf("%s: register Created: %v", s, err)
		}
	}
	// RecordName and TopicRecordName give Cancelled a subject of its own.
	for _, s := range []SubjectStrategy{RecordName, TopicRecordName} {
		if _, err := reg.Register(ctx, s.Subject("orders", "com.example.orders.Cancelled"), cancelledSchema); err != nil {
			t.Fatalf("%s: register Cancelled: %v", s, err)
		}
	}
	// TopicName puts it under orders-value, next to Created: refused, plainly.
	_, err := reg.Register(ctx, TopicName.Subject("orders", "com.example.orders.Cancelled"), cancelledSchema)
	if !errors.Is(err, ErrIncompatible) {
		t.Fatalf("err = %v, want ErrIncompatible", err)
	}
	for _, want := range []string{`"orders-value"`, "record name com.example.orders.Cancelled differs from com.example.orders.Created",
		"a subject holds one record type", "RecordName or TopicRecordName"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}
}

// TestRegistryCheckTransitive protects the difference between a level and
// its transitive form: latest only versus every version.
func TestRegistryCheckTransitive(t *testing.T) {
	reg, _, _ := newTestRegistry(t, GateLevel(Backward))
	ctx := context.Background()
	v1 := rec(`{"name":"a","type":"string"},{"name":"b","type":"int"}`)
	v2 := rec(`{"name":"a","type":"string"}`)
	v3 := rec(`{"name":"a","type":"string"},{"name":"b","type":"string","default":""}`)
	for _, s := range []string{v1, v2} {
		if _, err := reg.Register(ctx, "s", s); err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.Check(ctx, "s", v3, Backward); err != nil {
		t.Fatalf("Check(BACKWARD) = %v, want nil (v3 reads v2)", err)
	}
	err := reg.Check(ctx, "s", v3, BackwardTransitive)
	var ie *IncompatibleError
	if !errors.As(err, &ie) || ie.Version != 1 || ie.Level != BackwardTransitive {
		t.Fatalf("Check(BACKWARD_TRANSITIVE) = %v, want a clash with version 1", err)
	}
	if err := reg.Check(ctx, "new-subject", v3, FullTransitive); err != nil {
		t.Fatalf("Check on an empty subject = %v", err)
	}
}

// TestNewRegistryValidates protects configuration errors and the copy of
// the caller's URL slice.
func TestNewRegistryValidates(t *testing.T) {
	for _, urls := range [][]string{nil, {}, {"localhost:8081"}, {"ftp://x"}, {"http://"}, {"http://ok", "::"}} {
		if _, err := NewRegistry(urls); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewRegistry(%q) = %v, want ErrInvalidConfig", urls, err)
		}
	}
	if _, err := NewRegistry([]string{"http://127.0.0.1:1"}, GateLevel(Level(42))); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad level: %v", err)
	}
	fake := srfake.New()
	defer fake.Close()
	urls := []string{fake.URL(), "http://127.0.0.1:1"}
	reg, err := NewRegistry(urls)
	if err != nil {
		t.Fatal(err)
	}
	urls[0] = "http://127.0.0.1:2"
	if _, err := reg.Register(context.Background(), "x", userV1Schema); err != nil {
		t.Fatalf("Register after the caller reused its slice: %v", err)
	}
}
