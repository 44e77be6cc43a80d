package schema

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// Money is defined once, under its own subject; Payment references it.
const (
	moneyAvsc = `{"type":"record","name":"Money","namespace":"com.acme","fields":[
		{"name":"cents","type":"long"},{"name":"currency","type":"string"}]}`
	moneyV2Avsc = `{"type":"record","name":"Money","namespace":"com.acme","fields":[
		{"name":"cents","type":"long"},{"name":"currency","type":"string"},{"name":"note","type":"string","default":""}]}`
	paymentAvsc = `{"type":"record","name":"Payment","namespace":"com.acme.pay","fields":[
		{"name":"id","type":"string"},{"name":"amount","type":"com.acme.Money"}]}`
	paymentInlineAvsc = `{"type":"record","name":"Payment","namespace":"com.acme.pay","fields":[
		{"name":"id","type":"string"},{"name":"amount","type":` + moneyAvsc + `}]}`
)

type money struct {
	Cents    int64  `avro:"cents"`
	Currency string `avro:"currency"`
}

type payment struct {
	ID     string `avro:"id"`
	Amount money  `avro:"amount"`
}

var moneyRef = Reference{Name: "com.acme.Money", Subject: "com.acme.Money", Version: 1, Schema: moneyAvsc}

// registerMoney registers Money as version 1 of its subject.
func registerMoney(t *testing.T, reg *Registry) {
	t.Helper()
	if _, err := reg.Register(context.Background(), moneyRef.Subject, moneyAvsc); err != nil {
		t.Fatal(err)
	}
}

// TestReferencesRoundTrip protects schema references end to end: a codec
// built with its references registers the schema with them, and a
// consumer's Writer resolves the references through the registry, so a
// record decodes into a reader that references Money and into one that
// has Money inline.
func TestReferencesRoundTrip(t *testing.T) {
	ctx := context.Background()
	reg, _, _ := newTestRegistry(t)
	registerMoney(t, reg)
	c, err := NewCodec[payment](paymentAvsc, WithReferences(moneyRef))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.References(); len(got) != 1 || got[0] != moneyRef {
		t.Fatalf("References() = %+v", got)
	}
	id, err := reg.Register(ctx, "payments-value", c.Schema(), c.References()...)
	if err != nil {
		t.Fatal(err)
	}
	body, err := c.AppendEncode(nil, &payment{"p-1", money{250, "EUR"}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := reg.Writer(ctx, id)
	if err != nil {
		t.Fatalf("Writer of a schema with references: %v", err)
	}
	if w.Name() != "com.acme.pay.Payment" {
		t.Fatalf("writer name %q", w.Name())
	}
	inline, err := NewCodec[payment](paymentInlineAvsc)
	if err != nil {
		t.Fatal(err)
	}
	for name, reader := range map[string]*Codec[payment]{"referencing": c, "inline": inline} {
		var got payment
		if err := reader.DecodeFrom(w, body, &got); err != nil || got != (payment{"p-1", money{250, "EUR"}}) {
			t.Fatalf("%s reader: %+v, %v", name, got, err)
		}
	}
	// Registering again is served from the cache, with or without the
	// registry.
	if id2, err := reg.Register(ctx, "payments-value", c.Schema(), c.References()...); err != nil || id2 != id {
		t.Fatalf("second Register: %d, %v", id2, err)
	}
}

// TestReferenceFingerprint guards DecodeFrom's shortcut: two writers
// naming the same referenced type but with different definitions of it
// must not share a fingerprint, or a body would be decoded without
// resolution against the wrong layout.
func TestReferenceFingerprint(t *testing.T) {
	v1, err := NewWriter(1, paymentAvsc, moneyRef)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := NewWriter(2, paymentAvsc, Reference{Name: "com.acme.Money", Subject: "com.acme.Money", Version: 2, Schema: moneyV2Avsc})
	if err != nil {
		t.Fatal(err)
	}
	if v1.p.fp == v2.p.fp {
		t.Fatal("writers with different referenced Money share a fingerprint")
	}
	c, err := NewCodec[payment](paymentAvsc, WithReferences(moneyRef))
	if err != nil {
		t.Fatal(err)
	}
	if c.p.fp != v1.p.fp {
		t.Fatal("a codec and a writer of the same schema and references differ")
	}
}

// TestWriterReferenceErrors protects the consumer's classification of a
// writer whose references cannot be resolved: a subject or version the
// registry does not have is poison (ErrUnusableSchema, permanent); a
// registry that does not answer is an outage (transient), and once it
// answers again the writer resolves.
func TestWriterReferenceErrors(t *testing.T) {
	ctx := context.Background()
	withRef := func(subject string) func(http.ResponseWriter, *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/schemas/ids/7" {
				return false
			}
			w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			_, _ = w.Write([]byte(`{"schema":` + jsonString(paymentAvsc) + `,"references":[{"name":"com.acme.Money","subject":"` + subject + `","version":1}]}`))
			return true
		}
	}
	t.Run("missing subject", func(t *testing.T) {
		reg, fake, _ := newTestRegistry(t)
		fake.Intercept(withRef("nope"))
		_, err := reg.Writer(ctx, 7)
		if !errors.Is(err, ErrUnusableSchema) || !notFound(err) || IsTransient(err) || !strings.Contains(err.Error(), `"nope"`) {
			t.Fatalf("Writer = %v (transient %v), want permanent ErrUnusableSchema naming the subject", err, IsTransient(err))
		}
	})
	t.Run("missing version", func(t *testing.T) {
		reg, fake, _ := newTestRegistry(t)
		if _, err := reg.Register(ctx, "other", userV1Schema); err != nil {
			t.Fatal(err)
		}
		fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/schemas/ids/7" {
				return false
			}
			w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			_, _ = w.Write([]byte(`{"schema":` + jsonString(paymentAvsc) + `,"references":[{"name":"com.acme.Money","subject":"other","version":9}]}`))
			return true
		})
		if _, err := reg.Writer(ctx, 7); !errors.Is(err, ErrUnusableSchema) || IsTransient(err) {
			t.Fatalf("Writer = %v, want permanent ErrUnusableSchema", err)
		}
	})
	t.Run("registry down for the reference", func(t *testing.T) {
		reg, fake, _ := newTestRegistry(t)
		registerMoney(t, reg)
		fake.Intercept(withRef(moneyRef.Subject))
		var down atomic.Bool
		down.Store(true)
		fake.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
			if !down.Load() || !strings.HasPrefix(r.URL.Path, "/subjects/") {
				return false
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		})
		_, err := reg.Writer(ctx, 7)
		if !IsTransient(err) || errors.Is(err, ErrUnusableSchema) {
			t.Fatalf("Writer = %v, want transient, not unusable", err)
		}
		down.Store(false)
		if w, err := reg.Writer(ctx, 7); err != nil || w.Name() != "com.acme.pay.Payment" {
			t.Fatalf("Writer after the outage: %v", err)
		}
	})
}

// TestRegisterReferenceChecks protects registering with references: the
// referenced schema must be registered, with the text given; and the
// local compatibility gate sees the referenced types (srfake's own check
// answers "compatible" to everything, so a refusal here is the gate's).
func TestRegisterReferenceChecks(t *testing.T) {
	ctx := context.Background()
	reg, _, _ := newTestRegistry(t)
	if _, err := reg.Register(ctx, "payments-value", paymentAvsc, moneyRef); !notFound(err) {
		t.Fatalf("reference not registered: %v, want ErrSubjectNotFound or ErrVersionNotFound", err)
	}
	registerMoney(t, reg)
	other := moneyRef
	other.Schema = moneyV2Avsc
	if _, err := reg.Register(ctx, "payments-value", paymentAvsc, other); !errors.Is(err, ErrInvalid) {
		t.Fatalf("reference text differs from the registered one: %v, want ErrInvalid", err)
	}
	if _, err := reg.Register(ctx, "payments-value", paymentAvsc, Reference{Name: "x", Subject: "x"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("reference without a version: %v", err)
	}
	if _, err := reg.Register(ctx, "payments-value", paymentAvsc, moneyRef); err != nil {
		t.Fatal(err)
	}
	// v2 adds a required field: the gate, comparing through the
	// references of both versions, refuses it under BACKWARD.
	v2 := strings.Replace(paymentAvsc, `{"name":"id","type":"string"},`, `{"name":"id","type":"string"},{"name":"payer","type":"string"},`, 1)
	if _, err := reg.Register(ctx, "payments-value", v2, moneyRef); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("breaking change with references: %v, want ErrIncompatible", err)
	}
	v3 := strings.Replace(paymentAvsc, `{"name":"id","type":"string"},`, `{"name":"id","type":"string"},{"name":"payer","type":"string","default":""},`, 1)
	if _, err := reg.Register(ctx, "payments-value", v3, moneyRef); err != nil {
		t.Fatalf("compatible change with references: %v", err)
	}
}

// notFound reports a registry's "no such subject or version" (srfake
// answers 40402 for a missing subject's version, Confluent 40401).
func notFound(err error) bool {
	return errors.Is(err, ErrSubjectNotFound) || errors.Is(err, ErrVersionNotFound)
}

func jsonString(s string) string {
	b := strings.Builder{}
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
