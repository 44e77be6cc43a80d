package producer

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/schema"
)

// createdV2Avsc adds a field with a default: the Go type Created binds to
// it (the field is written with its default).
const createdV2Avsc = `{"type":"record","name":"Created","namespace":"ordo.test.orders","fields":[
	{"name":"order_id","type":"string"},{"name":"amount","type":"long"},
	{"name":"channel","type":"string","default":"web"}]}`

// TestRegistrationModes protects the three registration modes: lookup-only
// finds an exact registered schema and never registers (a missing one is
// refused, naming mode and subject); use-latest writes with the subject's
// latest version once the Go type binds to it, encoding with that schema;
// a per-publisher option overrides the producer's default.
func TestRegistrationModes(t *testing.T) {
	const topic = "orders"
	ctx := context.Background()

	t.Run("lookup-only refuses an unregistered schema", func(t *testing.T) {
		e := startEnv(t, map[string]int32{topic: 1})
		p := e.producer(t, Registration(schema.LookupOnly))
		_, err := NewPublisher(ctx, p, topic, codec[Created](t, createdAvsc))
		var me *schema.ModeError
		if !errors.As(err, &me) || me.Mode != schema.LookupOnly || me.Subject != "orders-value" || !errors.Is(err, schema.ErrNotRegistered) {
			t.Fatalf("NewPublisher = %v; want a ModeError (lookup-only, orders-value) wrapping ErrNotRegistered", err)
		}
		if !strings.Contains(err.Error(), "lookup-only") || !strings.Contains(err.Error(), "never registers") {
			t.Errorf("error does not say which mode refused and why: %v", err)
		}
		if _, err := e.reg.Versions(ctx, "orders-value"); !errors.Is(err, schema.ErrSubjectNotFound) {
			t.Fatalf("lookup-only registered something: %v", err)
		}
	})

	t.Run("lookup-only finds a registered schema", func(t *testing.T) {
		e := startEnv(t, map[string]int32{topic: 1})
		id, err := e.reg.Register(ctx, "orders-value", createdAvsc) // as CI would
		if err != nil {
			t.Fatal(err)
		}
		// A second registry client: nothing cached from the registration.
		reg2, err := schema.NewRegistry([]string{e.c.RegistryURL()})
		if err != nil {
			t.Fatal(err)
		}
		p, err := New(Brokers(e.c.Brokers()...), Registry(reg2), Registration(schema.LookupOnly))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		pub, err := NewPublisher(ctx, p, topic, codec[Created](t, createdAvsc))
		if err != nil || pub.SchemaID() != id {
			t.Fatalf("NewPublisher = %v, ID %d; want ID %d", err, pub.SchemaID(), id)
		}
		// A changed schema is not registered: lookup-only refuses it.
		if _, err := NewPublisher(ctx, p, topic, codec[Created](t, createdV2Avsc)); !errors.Is(err, schema.ErrNotRegistered) {
			t.Fatalf("changed schema under lookup-only: %v", err)
		}
		if vs, _ := reg2.Versions(ctx, "orders-value"); len(vs) != 1 {
			t.Fatalf("%d versions, want 1: lookup-only registered", len(vs))
		}
	})

	t.Run("use-latest writes with the latest version", func(t *testing.T) {
		e := startEnv(t, map[string]int32{topic: 1})
		if _, err := e.reg.Register(ctx, "orders-value", createdAvsc); err != nil {
			t.Fatal(err)
		}
		v2, err := e.reg.Register(ctx, "orders-value", createdV2Avsc)
		if err != nil {
			t.Fatal(err)
		}
		p := e.producer(t, Registration(schema.UseLatest))
		pub, err := NewPublisher(ctx, p, topic, codec[Created](t, createdAvsc)) // the old text locally
		if err != nil {
			t.Fatal(err)
		}
		if pub.SchemaID() != v2 {
			t.Fatalf("schema ID %d, want the latest's %d", pub.SchemaID(), v2)
		}
		if _, err := pub.Publish(ctx, Created{"o-1", 5}); err != nil {
			t.Fatal(err)
		}
		r := e.readAll(t, topic, 1)[0]
		id, body, err := schema.Unframe(r.Value)
		if err != nil || id != v2 {
			t.Fatalf("frame ID %d, %v", id, err)
		}
		type createdV2 struct {
			OrderID string `avro:"order_id"`
			Amount  int64  `avro:"amount"`
			Channel string `avro:"channel"`
		}
		var got createdV2
		if err := codec[createdV2](t, createdV2Avsc).Decode(body, &got); err != nil || got != (createdV2{"o-1", 5, "web"}) {
			t.Fatalf("body is not encoded with the latest schema: %+v, %v", got, err)
		}
		if v, _ := header.Get(r.Headers, header.Type); v != "ordo.test.orders.Created" {
			t.Fatalf("ordo-type %q", v)
		}
	})

	t.Run("use-latest refuses a type that does not bind", func(t *testing.T) {
		e := startEnv(t, map[string]int32{topic: 1})
		// The latest has a required field Created lacks.
		required := strings.Replace(createdV2Avsc, `,"default":"web"`, ``, 1)
		if _, err := e.reg.Register(ctx, "orders-value", required); err != nil {
			t.Fatal(err)
		}
		p := e.producer(t, Registration(schema.UseLatest))
		_, err := NewPublisher(ctx, p, topic, codec[Created](t, createdAvsc))
		var me *schema.ModeError
		if !errors.As(err, &me) || me.Mode != schema.UseLatest || !errors.Is(err, schema.ErrSchemaMismatch) || !strings.Contains(err.Error(), "does not bind") {
			t.Fatalf("NewPublisher = %v; want a use-latest ModeError wrapping ErrSchemaMismatch", err)
		}
		_, err = NewPublisher(ctx, p, "empty", codec[Created](t, createdAvsc), AllowMissingTopic())
		if !errors.Is(err, schema.ErrNotRegistered) || !strings.Contains(err.Error(), "use-latest") {
			t.Fatalf("use-latest on a subject with no version: %v", err)
		}
	})

	t.Run("per-publisher override", func(t *testing.T) {
		e := startEnv(t, map[string]int32{topic: 1, "audit": 1})
		p := e.producer(t, Registration(schema.LookupOnly))
		if _, err := NewPublisher(ctx, p, topic, codec[Created](t, createdAvsc), Registration(schema.AutoRegister)); err != nil {
			t.Fatalf("AutoRegister override: %v", err)
		}
		if _, err := NewPublisher(ctx, p, "audit", codec[Created](t, createdAvsc)); !errors.Is(err, schema.ErrNotRegistered) {
			t.Fatalf("producer default LookupOnly: %v", err)
		}
		if _, err := NewPublisher(ctx, p, topic, codec[Created](t, createdAvsc), Registration(schema.Mode(9))); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("unknown mode: %v", err)
		}
		if _, err := New(Brokers(e.c.Brokers()...), Registry(e.reg), Registration(schema.Mode(9))); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("New with unknown mode: %v", err)
		}
	})
}
