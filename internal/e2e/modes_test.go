//go:build integration

package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ordo-go/ordo/internal/kafkatest"
	"github.com/ordo-go/ordo/schema"
)

// uniq makes subject names unique to one run: the real registry is shared
// and keeps what it registers.
func uniq(s string) string { return fmt.Sprintf("%s-%d", s, time.Now().UnixNano()) }

// TestRealRegistryModes runs the lookup-only and use-latest modes against
// the real registry: lookup-only finds the exact schema CI registered and
// refuses (naming mode and subject) one that is not there, registering
// nothing; use-latest returns the latest version.
func TestRealRegistryModes(t *testing.T) {
	ctx := kafkatest.Bound(t, 2*time.Minute)
	reg, err := schema.NewRegistry([]string{realRegistry(t)})
	if err != nil {
		t.Fatal(err)
	}
	subject := uniq("ordo-e2e-modes")
	_, err = reg.Lookup(ctx, subject, rec(fA))
	var me *schema.ModeError
	if !errors.As(err, &me) || me.Mode != schema.LookupOnly || me.Subject != subject || !errors.Is(err, schema.ErrNotRegistered) || schema.IsTransient(err) {
		t.Fatalf("Lookup before registration: %v", err)
	}
	if _, err := reg.Latest(ctx, subject); !errors.Is(err, schema.ErrNotRegistered) {
		t.Fatalf("Latest of a missing subject: %v", err)
	}
	v1, err := reg.Register(ctx, subject, rec(fA))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := reg.Register(ctx, subject, rec(fA, fBDefault))
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := schema.NewRegistry([]string{realRegistry(t)}) // nothing cached
	if err != nil {
		t.Fatal(err)
	}
	if id, err := fresh.Lookup(ctx, subject, rec(fA)); err != nil || id != v1 {
		t.Fatalf("Lookup v1 = %d, %v; want %d", id, err, v1)
	}
	if _, err := fresh.Lookup(ctx, subject, rec(fA, fBOpt)); !errors.Is(err, schema.ErrNotRegistered) {
		t.Fatalf("Lookup of an unregistered text: %v", err)
	}
	l, err := fresh.Latest(ctx, subject)
	if err != nil || l.ID != v2 || l.Version != 2 {
		t.Fatalf("Latest = %+v, %v; want ID %d version 2", l, err, v2)
	}
	if vs, err := fresh.Versions(ctx, subject); err != nil || len(vs) != 2 {
		t.Fatalf("versions %d, %v: lookup-only registered something", len(vs), err)
	}
}

type money struct {
	Cents    int64  `avro:"cents"`
	Currency string `avro:"currency"`
}

type payment struct {
	ID     string `avro:"id"`
	Amount money  `avro:"amount"`
}

// TestRealRegistryReferences registers a schema that references another
// subject on the real registry, resolves it as a consumer does (Writer),
// finds it with use-latest, and checks that a reference the registry
// does not have is refused when registering.
func TestRealRegistryReferences(t *testing.T) {
	ctx := kafkatest.Bound(t, 2*time.Minute)
	reg, err := schema.NewRegistry([]string{realRegistry(t)})
	if err != nil {
		t.Fatal(err)
	}
	ns := strings.ReplaceAll(uniq("e2e"), "-", "")
	moneyAvsc := `{"type":"record","name":"Money","namespace":"` + ns + `","fields":[{"name":"cents","type":"long"},{"name":"currency","type":"string"}]}`
	paymentAvsc := `{"type":"record","name":"Payment","namespace":"` + ns + `.pay","fields":[{"name":"id","type":"string"},{"name":"amount","type":"` + ns + `.Money"}]}`
	moneySubject, paySubject := ns+".Money", uniq("ordo-e2e-payments")
	if _, err := reg.Register(ctx, moneySubject, moneyAvsc); err != nil {
		t.Fatal(err)
	}
	ref := schema.Reference{Name: ns + ".Money", Subject: moneySubject, Version: 1, Schema: moneyAvsc}
	codec, err := schema.NewCodec[payment](paymentAvsc, schema.WithReferences(ref))
	if err != nil {
		t.Fatal(err)
	}
	id, err := reg.Register(ctx, paySubject, codec.Schema(), codec.References()...)
	if err != nil {
		t.Fatalf("register with a reference: %v", err)
	}
	framed, err := codec.AppendFramed(nil, id, &payment{"p-1", money{250, "EUR"}})
	if err != nil {
		t.Fatal(err)
	}
	consumerReg, err := schema.NewRegistry([]string{realRegistry(t)})
	if err != nil {
		t.Fatal(err)
	}
	wid, body, err := schema.Unframe(framed)
	if err != nil {
		t.Fatal(err)
	}
	w, err := consumerReg.Writer(ctx, wid)
	if err != nil {
		t.Fatalf("Writer with references: %v", err)
	}
	var got payment
	if err := codec.DecodeFrom(w, body, &got); err != nil || got != (payment{"p-1", money{250, "EUR"}}) {
		t.Fatalf("decode: %+v, %v", got, err)
	}
	l, err := consumerReg.Latest(ctx, paySubject)
	if err != nil || l.ID != id || len(l.References) != 1 {
		t.Fatalf("Latest = %+v, %v", l, err)
	}
	if _, err := schema.NewCodec[payment](l.Schema, schema.WithReferences(l.References...)); err != nil {
		t.Fatalf("bind to the latest with its references: %v", err)
	}
	missing := ref
	missing.Subject = uniq("ordo-e2e-nothing")
	_, err = reg.Register(ctx, uniq("ordo-e2e-payments"), paymentAvsc, missing)
	if err == nil || schema.IsTransient(err) {
		t.Fatalf("register with a missing reference: %v, want a permanent error", err)
	}
}
