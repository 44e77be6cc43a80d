package schema

import (
	"context"
	"errors"
	"testing"
)

// TestLatestAndLookupWithReferences protects the registry side of the
// lookup-only and use-latest modes for a schema with references: Lookup
// finds it by text and references, Latest returns it with the referenced
// texts, ready to bind a codec to.
func TestLatestAndLookupWithReferences(t *testing.T) {
	ctx := context.Background()
	reg, fake, _ := newTestRegistry(t)
	registerMoney(t, reg)
	id, err := reg.Register(ctx, "payments-value", paymentAvsc, moneyRef)
	if err != nil {
		t.Fatal(err)
	}
	reg2, _ := NewRegistry([]string{fake.URL()}) // nothing cached
	if got, err := reg2.Lookup(ctx, "payments-value", paymentAvsc, moneyRef); err != nil || got != id {
		t.Fatalf("Lookup = %d, %v; want %d", got, err, id)
	}
	if _, err := reg2.Lookup(ctx, "payments-value", paymentInlineAvsc); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Lookup of another text: %v, want ErrNotRegistered", err)
	}
	l, err := reg2.Latest(ctx, "payments-value")
	if err != nil || l.ID != id || l.Version != 1 || len(l.References) != 1 || l.References[0].Name != moneyRef.Name || l.References[0].Version != 1 {
		t.Fatalf("Latest = %+v, %v", l, err)
	}
	c, err := NewCodec[payment](l.Schema, WithReferences(l.References...))
	if err != nil {
		t.Fatalf("binding to the latest with its references: %v", err)
	}
	if c.Name() != "com.acme.pay.Payment" {
		t.Fatal(c.Name())
	}
	var me *ModeError
	if _, err := reg2.Latest(ctx, "nothing"); !errors.As(err, &me) || me.Mode != UseLatest || !errors.Is(err, ErrNotRegistered) || IsTransient(err) {
		t.Fatalf("Latest of a missing subject: %v", err)
	}
}
