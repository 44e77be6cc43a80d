package schema

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

type userV1 struct {
	ID   int32  `avro:"id"`
	Name string `avro:"name"`
}

type userV2 struct {
	ID    int64  `avro:"id"`
	Name  string `avro:"name"`
	Email string `avro:"email"`
}

const (
	userV1Schema = `{"type":"record","name":"User","namespace":"t","fields":[
		{"name":"id","type":"int"},{"name":"name","type":"string"}]}`
	// v2 adds a field with a default and promotes id from int to long.
	userV2Schema = `{"type":"record","name":"User","namespace":"t","fields":[
		{"name":"id","type":"long"},{"name":"name","type":"string"},
		{"name":"email","type":"string","default":"unknown"}]}`
	// v3 adds a required field: readers of v3 cannot read v1 data.
	userV3Schema = `{"type":"record","name":"User","namespace":"t","fields":[
		{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"email","type":"string"}]}`
)

// TestDecodeFromResolution protects writer→reader resolution across a
// deploy: old data read by new code, new data read by old code, and a
// refused breaking change.
func TestDecodeFromResolution(t *testing.T) {
	c1 := mustCodec[userV1](t, userV1Schema)
	c2 := mustCodec[userV2](t, userV2Schema)
	w1, err := NewWriter(1, c1.Schema())
	if err != nil {
		t.Fatal(err)
	}
	w2, err := NewWriter(2, c2.Schema())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("v1 writer, v2 reader fills the default and promotes int to long", func(t *testing.T) {
		body, err := c1.AppendEncode(nil, &userV1{ID: 7, Name: "ann"})
		if err != nil {
			t.Fatal(err)
		}
		var got userV2
		if err := c2.DecodeFrom(w1, body, &got); err != nil {
			t.Fatalf("DecodeFrom: %v", err)
		}
		if got != (userV2{ID: 7, Name: "ann", Email: "unknown"}) {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("v2 writer, v1 reader skips the new field", func(t *testing.T) {
		// id is long in v2 and int in v1: long cannot be read as int, so
		// v1 reads only what v2 wrote compatibly. Use a v1' reader with a
		// long id to read v2 data.
		type userV1b struct {
			ID   int64  `avro:"id"`
			Name string `avro:"name"`
		}
		c1b := mustCodec[userV1b](t, strings.Replace(userV1Schema, `"type":"int"`, `"type":"long"`, 1))
		body, err := c2.AppendEncode(nil, &userV2{ID: 9, Name: "bo", Email: "b@x"})
		if err != nil {
			t.Fatal(err)
		}
		var got userV1b
		if err := c1b.DecodeFrom(w2, body, &got); err != nil {
			t.Fatalf("DecodeFrom: %v", err)
		}
		if got != (userV1b{ID: 9, Name: "bo"}) {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("v2 writer, v1 reader refused: long cannot narrow to int", func(t *testing.T) {
		body, _ := c2.AppendEncode(nil, &userV2{ID: 9})
		var got userV1
		err := c1.DecodeFrom(w2, body, &got)
		if !errors.Is(err, ErrIncompatible) {
			t.Fatalf("err = %v, want ErrIncompatible", err)
		}
		var de *DecodeError
		if !errors.As(err, &de) || de.SchemaID != 2 {
			t.Fatalf("err = %v, want *DecodeError for schema 2", err)
		}
	})
	t.Run("breaking change: v3 reader, v1 writer, required field without default", func(t *testing.T) {
		c3 := mustCodec[userV2](t, userV3Schema)
		body, _ := c1.AppendEncode(nil, &userV1{ID: 1, Name: "x"})
		var got userV2
		err := c3.DecodeFrom(w1, body, &got)
		if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "email") {
			t.Fatalf("err = %v, want ErrIncompatible naming email", err)
		}
		if err := Check([]string{userV1Schema}, userV3Schema, Backward); !errors.Is(err, ErrIncompatible) {
			t.Fatalf("Check(BACKWARD) = %v, want ErrIncompatible", err)
		}
	})
	t.Run("identical writer decodes directly", func(t *testing.T) {
		same, _ := NewWriter(5, userV2Schema) // different text, same canonical form
		body, _ := c2.AppendEncode(nil, &userV2{ID: 3, Name: "c", Email: "e"})
		var got userV2
		if err := c2.DecodeFrom(same, body, &got); err != nil || got.Email != "e" {
			t.Fatalf("DecodeFrom = %+v, %v", got, err)
		}
		if _, ok := c2.resolved.Load(5); ok {
			t.Fatal("identical writer went through resolution")
		}
	})
}

// TestDecodeFromConcurrent protects the per-writer resolution cache under
// concurrent use (run with -race).
func TestDecodeFromConcurrent(t *testing.T) {
	c1 := mustCodec[userV1](t, userV1Schema)
	c2 := mustCodec[userV2](t, userV2Schema)
	w1, _ := NewWriter(1, userV1Schema)
	body, _ := c1.AppendEncode(nil, &userV1{ID: 4, Name: "d"})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for range 100 {
				var got userV2
				if err := c2.DecodeFrom(w1, body, &got); err != nil || got.Email != "unknown" {
					errs <- errors.Join(err, errors.New("bad decode"))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestDecodeFromWriterIDReuse protects the cache against an ID that now
// names a different schema (another registry, or a test reset).
func TestDecodeFromWriterIDReuse(t *testing.T) {
	c2 := mustCodec[userV2](t, userV2Schema)
	c1 := mustCodec[userV1](t, userV1Schema)
	bad, _ := NewWriter(1, `{"type":"record","name":"User","namespace":"t","fields":[{"name":"id","type":"string"}]}`)
	var got userV2
	if err := c2.DecodeFrom(bad, []byte{0x02, 'x'}, &got); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("err = %v, want ErrIncompatible", err)
	}
	good, _ := NewWriter(1, userV1Schema)
	body, _ := c1.AppendEncode(nil, &userV1{ID: 1, Name: "n"})
	if err := c2.DecodeFrom(good, body, &got); err != nil {
		t.Fatalf("after ID reuse: %v", err)
	}
}
