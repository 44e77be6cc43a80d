package schema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// noPanic runs fn and fails the test if it panics.
func noPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s panicked: %v", what, r)
		}
	}()
	fn()
}

// TestNewRegistryNilAndZeroInputs protects "no constructor or option
// panics": each nil or zero input is an error wrapping ErrInvalidConfig,
// and one call with several problems reports all of them.
func TestNewRegistryNilAndZeroInputs(t *testing.T) {
	ok := []string{"http://127.0.0.1:1"}
	tests := []struct {
		name string
		urls []string
		opts []RegistryOption
		want string
	}{
		{"nil option", ok, []RegistryOption{nil}, "RegistryOption 1 is nil"},
		{"nil option after a good one", ok, []RegistryOption{GateLevel(Full), nil}, "RegistryOption 2 is nil"},
		{"nil urls", nil, nil, "no registry URLs"},
		{"empty urls", []string{}, nil, "no registry URLs"},
		{"empty url", []string{""}, nil, "registry URL 1"},
		{"no scheme", []string{"localhost:8081"}, nil, "registry URL 1"},
		{"malformed", []string{"http://ok", "::"}, nil, "registry URL 2"},
		{"nil ClientOpts entry", ok, []RegistryOption{ClientOpts(sr.UserAgent("x"), nil)}, "ClientOpts: option 2 is nil"},
		{"nil http client", ok, []RegistryOption{ClientOpts(sr.HTTPClient(nil))}, "no http client"},
		{"invalid GateLevel", ok, []RegistryOption{GateLevel(Level(42))}, "gate level 42"},
		{"negative GateLevel", ok, []RegistryOption{GateLevel(Level(-1))}, "gate level -1"},
		{"zero LookupTimeout", ok, []RegistryOption{LookupTimeout(0)}, "lookup timeout"},
		{"negative LookupTimeout", ok, []RegistryOption{LookupTimeout(-time.Second)}, "lookup timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reg *Registry
			var err error
			noPanic(t, "NewRegistry", func() { reg, err = NewRegistry(tt.urls, tt.opts...) })
			if reg != nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewRegistry = %v, %v; want ErrInvalidConfig saying %q", reg, err, tt.want)
			}
		})
	}

	t.Run("every problem at once", func(t *testing.T) {
		var err error
		noPanic(t, "NewRegistry", func() {
			_, err = NewRegistry([]string{"ftp://x", "::"}, nil, GateLevel(Level(9)), LookupTimeout(0), ClientOpts(nil))
		})
		var joined interface{ Unwrap() []error }
		if !errors.As(err, &joined) || len(joined.Unwrap()) != 6 {
			t.Fatalf("err = %v, want 6 joined problems", err)
		}
		for _, e := range joined.Unwrap() {
			if !errors.Is(e, ErrInvalidConfig) {
				t.Errorf("%v does not wrap ErrInvalidConfig", e)
			}
		}
	})
}

// TestZeroValuesDoNotPanic protects the other exported entry points of the
// package against nil and zero inputs.
func TestZeroValuesDoNotPanic(t *testing.T) {
	ctx := context.Background()
	for _, reg := range []*Registry{nil, {}} {
		noPanic(t, "methods of an unmade Registry", func() {
			_, e1 := reg.Writer(ctx, 1)
			_, e2 := reg.Register(ctx, "s", userV1Schema)
			e3 := reg.Check(ctx, "s", userV1Schema, Backward)
			_, e4 := reg.Versions(ctx, "s")
			for _, err := range []error{e1, e2, e3, e4} {
				if !errors.Is(err, ErrInvalidConfig) || IsTransient(err) {
					t.Errorf("err = %v, want a permanent ErrInvalidConfig", err)
				}
			}
		})
	}
	noPanic(t, "NewWriter", func() {
		if _, err := NewWriter(0, ""); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewWriter(0, \"\") = %v", err)
		}
	})
	noPanic(t, "Check", func() {
		if err := Check(nil, "", Level(0)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(nil, \"\", None) = %v", err)
		}
		if err := Check([]string{""}, userV1Schema, Backward); !errors.Is(err, ErrInvalid) {
			t.Errorf("Check with an empty existing schema = %v", err)
		}
	})
}

// hangingRegistry is a registry on 127.0.0.1 that accepts requests and
// never answers them.
func hangingRegistry(t *testing.T) string {
	u, _ := countingHangingRegistry(t)
	return u
}

// countingHangingRegistry is hangingRegistry that counts the requests.
func countingHangingRegistry(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	stop := make(chan struct{})
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		n.Add(1)
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(func() { close(stop); srv.Close() })
	return srv.URL, &n
}

// TestLookupTimeoutDefault protects the documented bound of a lookup
// against a hanging registry: 5 s by default (it was 15 s: the HTTP
// client's own timeout was retried twice by the single flight).
func TestLookupTimeoutDefault(t *testing.T) {
	reg, err := NewRegistry([]string{hangingRegistry(t)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	errs := make(chan error, 2)
	for range 2 { // a second caller joins the flight
		go func() { _, err := reg.Writer(context.Background(), 1); errs <- err }()
	}
	for range 2 {
		if err := <-errs; !IsTransient(err) || !strings.Contains(err.Error(), "lookup timeout of 5s") {
			t.Fatalf("err = %v, want a transient lookup timeout", err)
		}
	}
	if d := time.Since(start); d < DefaultLookupTimeout-100*time.Millisecond || d > DefaultLookupTimeout+time.Second {
		t.Fatalf("Writer against a hanging registry took %v, want %v", d, DefaultLookupTimeout)
	}
}

// TestLookupTimeoutOption protects the option and the bound of each method,
// with two hanging URLs (franz-go tries the next URL after a transport
// failure) and with a caller-supplied HTTP client that has a timeout of its
// own (which must not be retried).
func TestLookupTimeoutOption(t *testing.T) {
	const bound = 300 * time.Millisecond
	urls := []string{hangingRegistry(t), hangingRegistry(t)}
	reg, err := NewRegistry(urls, LookupTimeout(bound))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := map[string]func() error{
		"Writer":   func() error { _, err := reg.Writer(ctx, 1); return err },
		"Register": func() error { _, err := reg.Register(ctx, "s", userV1Schema); return err },
		"Check":    func() error { return reg.Check(ctx, "s", userV1Schema, Backward) },
		"Versions": func() error { _, err := reg.Versions(ctx, "s"); return err },
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		if d := time.Since(start); d < bound-50*time.Millisecond || d > bound+time.Second {
			t.Errorf("%s took %v, want %v", name, d, bound)
		}
		if !IsTransient(err) {
			t.Errorf("%s: err = %v, want transient", name, err)
		}
	}

	const own = 200 * time.Millisecond
	u, requests := countingHangingRegistry(t)
	reg, err = NewRegistry([]string{u}, LookupTimeout(time.Minute), ClientOpts(sr.HTTPClient(&http.Client{Timeout: own})))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = reg.Writer(ctx, 1)
	if n := requests.Load(); n != 1 {
		t.Fatalf("Writer with an HTTP client timeout of %v made %d requests in %v: the timeout was retried", own, n, time.Since(start))
	}
	if !IsTransient(err) {
		t.Fatalf("err = %v, want transient", err)
	}

	// The caller's ctx can shorten the bound.
	reg, _ = NewRegistry([]string{u})
	short, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	start = time.Now()
	if _, err := reg.Writer(short, 1); !IsTransient(err) || time.Since(start) > bound+time.Second {
		t.Fatalf("Writer with a %v ctx: %v after %v", bound, err, time.Since(start))
	}
}

const secret = "s3cr3t-pw"

// withCreds puts user:secret into a registry URL.
func withCreds(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("user", secret)
	return u.String()
}

// leaks returns where err shows the password: any text of any error in its
// tree, or a URL field of franz-go's or net/http's error types.
func leaks(err error) []string {
	var out []string
	for _, format := range []string{"%s", "%v", "%+v", "%#v", "%q"} {
		if s := fmt.Sprintf(format, err); strings.Contains(s, secret) {
			out = append(out, format+": "+s)
		}
	}
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if strings.Contains(e.Error(), secret) {
			out = append(out, fmt.Sprintf("%T: %s", e, e.Error()))
		}
		switch t := e.(type) {
		case *sr.ResponseError:
			if strings.Contains(t.URL, secret) {
				out = append(out, "ResponseError.URL: "+t.URL)
			}
		case *url.Error:
			if strings.Contains(t.URL, secret) {
				out = append(out, "url.Error.URL: "+t.URL)
			}
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				walk(c)
			}
		}
	}
	walk(err)
	return out
}

// TestRegistryErrorsRedactPassword protects the registry password in a URL:
// no failing call's error shows it, in any format or in any error it
// unwraps to, while errors.As still reaches the typed errors.
func TestRegistryErrorsRedactPassword(t *testing.T) {
	ctx := context.Background()
	calls := func(reg *Registry) map[string]error {
		_, e1 := reg.Writer(ctx, 1)
		_, e2 := reg.Register(ctx, "s", userV1Schema)
		e3 := reg.Check(ctx, "s", userV1Schema, Backward)
		_, e4 := reg.Versions(ctx, "s")
		return map[string]error{"Writer": e1, "Register": e2, "Check": e3, "Versions": e4}
	}
	check := func(t *testing.T, reg *Registry) {
		t.Helper()
		for name, err := range calls(reg) {
			if err == nil {
				t.Fatalf("%s: no error", name)
			}
			if l := leaks(err); len(l) > 0 {
				t.Errorf("%s: the password shows in %q", name, l)
			}
			if !strings.Contains(err.Error(), "user:xxxxx@") {
				t.Errorf("%s: %v does not show the redacted URL", name, err)
			}
		}
	}

	t.Run("transport failure", func(t *testing.T) {
		fake := srfake.New()
		u := withCreds(t, fake.URL())
		fake.Close()
		reg, err := NewRegistry([]string{u})
		if err != nil {
			t.Fatal(err)
		}
		check(t, reg)
		_, err = reg.Writer(ctx, 1)
		var ue *url.Error
		if !errors.As(err, &ue) || !IsTransient(err) {
			t.Fatalf("errors.As(*url.Error) failed or not transient: %v", err)
		}
	})
	t.Run("lookup timeout", func(t *testing.T) {
		reg, err := NewRegistry([]string{withCreds(t, hangingRegistry(t))}, LookupTimeout(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		check(t, reg)
	})
	t.Run("error response", func(t *testing.T) {
		fake := srfake.New()
		defer fake.Close()
		fake.Intercept(func(w http.ResponseWriter, _ *http.Request) bool {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]any{"error_code": 50301, "message": "down"})
			return true
		})
		reg, err := NewRegistry([]string{withCreds(t, fake.URL())})
		if err != nil {
			t.Fatal(err)
		}
		for name, err := range calls(reg) {
			if l := leaks(err); len(l) > 0 {
				t.Errorf("%s: the password shows in %q", name, l)
			}
			var resp *sr.ResponseError
			if !errors.As(err, &resp) || resp.ErrorCode != 50301 || !strings.Contains(resp.URL, "user:xxxxx@") {
				t.Errorf("%s: errors.As(*sr.ResponseError) = %+v from %v", name, resp, err)
			}
		}
	})
	t.Run("bad URL in NewRegistry", func(t *testing.T) {
		for _, u := range []string{"ftp://user:" + secret + "@host", "http://user:" + secret + "@"} {
			_, err := NewRegistry([]string{u})
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("NewRegistry(%q) = %v", u, err)
			}
			if l := leaks(err); len(l) > 0 {
				t.Errorf("the password shows in %q", l)
			}
		}
	})
}

// TestIsTransient protects the classification a consumer uses to tell an
// outage (retry) from a permanent failure (poison), for every error path
// of Writer, Register, Check and Versions.
func TestIsTransient(t *testing.T) {
	ctx := context.Background()
	answer := func(status int, body any) func(http.ResponseWriter, *http.Request) bool {
		return func(w http.ResponseWriter, _ *http.Request) bool {
			w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(body)
			return true
		}
	}
	schemaAnswer := func(s map[string]any) func(http.ResponseWriter, *http.Request) bool {
		return answer(http.StatusOK, s)
	}
	e := func(code int) map[string]any { return map[string]any{"error_code": code, "message": "m"} }
	tests := []struct {
		name      string
		intercept func(http.ResponseWriter, *http.Request) bool
		transient bool
		is        error
	}{
		{"500", answer(500, e(50001)), true, nil},
		{"503 without a body", func(w http.ResponseWriter, _ *http.Request) bool { w.WriteHeader(503); return true }, true, nil},
		{"429", answer(429, e(42901)), true, nil},
		{"408", answer(408, e(40801)), true, nil},
		{"401: credentials, not the record", answer(401, e(40101)), true, nil},
		{"403", answer(403, e(40301)), true, nil},
		{"unknown ID", answer(404, e(40403)), false, ErrUnknownSchema},
		{"400", answer(400, e(40001)), false, nil},
		{"422", answer(422, e(42201)), false, ErrInvalidSchema},
		{"not Avro", schemaAnswer(map[string]any{"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"}), false, ErrUnusableSchema},
		{"references in a cycle", schemaAnswer(map[string]any{"schema": userV1Schema, "references": []map[string]any{{"name": "x", "subject": "x", "version": 1}}}), false, ErrUnusableSchema},
		{"does not parse", schemaAnswer(map[string]any{"schema": `{"type":`}), false, ErrUnusableSchema},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, fake, _ := newTestRegistry(t)
			fake.Intercept(tt.intercept)
			_, err := reg.Writer(ctx, 1)
			if err == nil || IsTransient(err) != tt.transient || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("Writer: err = %v, IsTransient = %v; want %v (is %v)", err, IsTransient(err), tt.transient, tt.is)
			}
			if tt.is == ErrUnusableSchema {
				return
			}
			_, err = reg.Versions(ctx, "s")
			if err == nil || IsTransient(err) != tt.transient {
				t.Fatalf("Versions: err = %v, IsTransient = %v", err, IsTransient(err))
			}
			if _, err = reg.Register(ctx, "s", userV1Schema); IsTransient(err) != tt.transient {
				t.Fatalf("Register: err = %v, IsTransient = %v", err, IsTransient(err))
			}
		})
	}

	t.Run("no answer", func(t *testing.T) {
		reg, _ := NewRegistry([]string{hangingRegistry(t)}, LookupTimeout(50*time.Millisecond))
		if err := reg.Check(ctx, "s", userV1Schema, Full); !IsTransient(err) {
			t.Fatalf("lookup timeout: %v", err)
		}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := reg.Writer(cancelled, 1); !IsTransient(err) {
			t.Fatalf("cancelled ctx: %v", err)
		}
	})
	t.Run("verdicts", func(t *testing.T) {
		reg, _, _ := newTestRegistry(t)
		if _, err := reg.Register(ctx, "users-value", userV1Schema); err != nil {
			t.Fatal(err)
		}
		for _, err := range []error{
			func() error { _, err := reg.Register(ctx, "users-value", userV3Schema); return err }(),
			func() error { _, err := reg.Register(ctx, "users-value", `{"type":`); return err }(),
			reg.Check(ctx, "users-value", userV1Schema, Level(99)),
			errNotMade,
		} {
			if err == nil || IsTransient(err) {
				t.Errorf("err = %v, IsTransient = %v; want permanent", err, IsTransient(err))
			}
		}
		if IsTransient(nil) || IsTransient(errors.New("other")) || !IsTransient(context.DeadlineExceeded) {
			t.Error("IsTransient of nil, a plain error or a bare deadline")
		}
	})
}
