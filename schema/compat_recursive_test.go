package schema

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// checkBound is the time one compatibility check may take in the tests: the
// checker is polynomial in the number of named types, so anything close to
// it is a loop.
const checkBound = 2 * time.Second

// checkWithin runs Check and fails the test if it does not return within
// checkBound (the goroutine is left behind: the test has failed anyway).
func checkWithin(t testing.TB, level Level, cand string, existing ...string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- Check(existing, cand, level) }()
	select {
	case err := <-done:
		return err
	case <-time.After(checkBound):
		t.Fatalf("Check(%s) still running after %v:\ncandidate %s\nexisting %s", level, checkBound, cand, existing)
		return nil
	}
}

// Recursive schemas: a Node reached again through an array, a map, a
// union, a direct field, and two records referring to each other.
func recNode(kids, x string) string {
	return `{"type":"record","name":"Node","namespace":"t","fields":[{"name":"kids","type":` + kids + `},{"name":"x","type":"` + x + `"}]}`
}

func mutual(y string, extra string) string {
	return `{"type":"record","name":"A","namespace":"t","fields":[
		{"name":"b","type":["null",{"type":"record","name":"B","fields":[
			{"name":"a","type":["null","A"]},{"name":"y","type":"` + y + `"}` + extra + `]}]},
		{"name":"x","type":"int"}]}`
}

// recursiveCases have the verdicts of the Avro specification's resolution
// rules: backward, the new schema reads old data; forward, the reverse.
var recursiveCases = []struct {
	name              string
	old, new          string
	backward, forward bool
	wantReason        string // in the backward or forward reason, when refused
}{
	{name: "array: field changes type", old: recNode(`{"type":"array","items":"Node"}`, "int"),
		new: recNode(`{"type":"array","items":"Node"}`, "string"), wantReason: "field x"},
	{name: "array: field promoted", old: recNode(`{"type":"array","items":"Node"}`, "int"),
		new: recNode(`{"type":"array","items":"Node"}`, "long"), backward: true},
	{name: "array: identical", old: recNode(`{"type":"array","items":"Node"}`, "int"),
		new: recNode(`{"type":"array","items":"Node"}`, "int"), backward: true, forward: true},
	{name: "map: field changes type", old: recNode(`{"type":"map","values":"Node"}`, "int"),
		new: recNode(`{"type":"map","values":"Node"}`, "string"), wantReason: "field x"},
	{name: "map: field promoted", old: recNode(`{"type":"map","values":"Node"}`, "float"),
		new: recNode(`{"type":"map","values":"Node"}`, "double"), backward: true},
	{name: "union: field changes type", old: recNode(`["null","Node"]`, "int"),
		new: recNode(`["null","Node"]`, "string"), wantReason: "field x"},
	{name: "union: field promoted", old: recNode(`["null","Node"]`, "int"),
		new: recNode(`["null","Node"]`, "long"), backward: true},
	{name: "union: recursion made non-nullable", old: recNode(`["null","Node"]`, "int"),
		new: recNode(`"Node"`, "int"), forward: true, wantReason: "union branch null"},
	{name: "direct field: field changes type", old: recNode(`"Node"`, "int"),
		new: recNode(`"Node"`, "string"), wantReason: "field x"},
	{name: "direct field: string to bytes", old: recNode(`"Node"`, "string"),
		new: recNode(`"Node"`, "bytes"), backward: true, forward: true},
	{name: "array to map of itself", old: recNode(`{"type":"array","items":"Node"}`, "int"),
		new: recNode(`{"type":"map","values":"Node"}`, "int"), wantReason: "field kids"},
	{name: "mutual: inner field changes type", old: mutual("int", ""), new: mutual("string", ""),
		wantReason: "field b.y"},
	{name: "mutual: inner field promoted", old: mutual("int", ""), new: mutual("long", ""), backward: true},
	{name: "mutual: inner field added with default", old: mutual("int", ""),
		new: mutual("int", `,{"name":"z","type":"int","default":0}`), backward: true, forward: true},
	{name: "mutual: inner field added without default", old: mutual("int", ""),
		new: mutual("int", `,{"name":"z","type":"int"}`), forward: true, wantReason: "field b.z"},
	{name: "mutual: identical", old: mutual("int", ""), new: mutual("int", ""), backward: true, forward: true},
	// The change is reached only through the recursion: Node → kids[] →
	// Child → n → Node. Old data with a Child holding a Node cannot be
	// read if Child.z changed type.
	{name: "change reached only through the recursion",
		old: `{"type":"record","name":"Node","namespace":"t","fields":[{"name":"kids","type":{"type":"array","items":
			{"type":"record","name":"Child","fields":[{"name":"n","type":["null","Node"]},{"name":"z","type":"int"}]}}}]}`,
		new: `{"type":"record","name":"Node","namespace":"t","fields":[{"name":"kids","type":{"type":"array","items":
			{"type":"record","name":"Child","fields":[{"name":"n","type":["null","Node"]},{"name":"z","type":"boolean"}]}}}]}`,
		wantReason: "field kids[].z"},
	// hamba's checker says compatible: trying the reader union's first
	// branch (a.N, which lacks a default for y) caches (b.N, N) as
	// compatible while (a.N, N) is assumed compatible; when a.N is refuted
	// the stale verdict for b.N stays and the second branch passes. But b.N
	// reads N.self through a.N: a record whose f.self is set cannot be read.
	{name: "reader union poisoned by an abandoned branch",
		old: `{"type":"record","name":"Top","namespace":"t","fields":[{"name":"f","type":{"type":"record","name":"N","fields":[
			{"name":"self","type":["null","N"]},{"name":"x","type":"int"}]}}]}`,
		new: `{"type":"record","name":"Top","namespace":"t","fields":[{"name":"f","type":[
			{"type":"record","name":"N","namespace":"a","fields":[
				{"name":"self","type":["null",{"type":"record","name":"N","namespace":"b","fields":[
					{"name":"self","type":["null","a.N"]},{"name":"x","type":"int"}]}]},
				{"name":"x","type":"int"},{"name":"y","type":"string"}]},
			"b.N"]}]}`,
		forward: true, wantReason: "field f"},
}

// TestCheckRecursive protects the gate on recursive schemas: every check
// returns within checkBound (the old gate never returned when the changed
// field was reached through the recursion) with the specification's
// verdict, at each level.
func TestCheckRecursive(t *testing.T) {
	for _, tc := range recursiveCases {
		for _, lv := range []Level{Backward, Forward, Full, FullTransitive} {
			t.Run(tc.name+"/"+lv.String(), func(t *testing.T) {
				want := (!lv.backward() || tc.backward) && (!lv.forward() || tc.forward)
				err := checkWithin(t, lv, tc.new, tc.old)
				if want {
					if err != nil {
						t.Fatalf("Check = %v, want compatible", err)
					}
					return
				}
				var ie *IncompatibleError
				if !errors.As(err, &ie) || ie.Version != 1 {
					t.Fatalf("Check = %v, want *IncompatibleError with version 1", err)
				}
				if tc.wantReason != "" && !strings.Contains(ie.Reason, tc.wantReason) {
					t.Fatalf("reason %q does not name %q", ie.Reason, tc.wantReason)
				}
			})
		}
	}
}

// TestRegistryRecursive protects Registry.Register and Registry.Check on
// recursive schemas: they return, and refuse the breaking change.
func TestRegistryRecursive(t *testing.T) {
	reg, _, _ := newTestRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*checkBound)
	defer cancel()
	tc := recursiveCases[0]
	if _, err := reg.Register(ctx, "nodes-value", tc.old); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { done <- reg.Check(ctx, "nodes-value", tc.new, Backward) }()
	go func() { _, err := reg.Register(ctx, "nodes-value", tc.new); done <- err }()
	for range 2 {
		select {
		case err := <-done:
			if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "field x") {
				t.Fatalf("err = %v, want ErrIncompatible naming field x", err)
			}
		case <-time.After(2 * checkBound):
			t.Fatal("Registry.Check / Register on a recursive schema still running")
		}
	}
	if _, err := reg.Register(ctx, "nodes-value", recursiveCases[1].new); err != nil {
		t.Fatalf("compatible recursive change: %v", err)
	}
}

// TestCheckNarrowerUnion protects the decision documented on Check: a
// writer union read by a narrower reader is refused as a whole, and the
// reason says that only the records on the missing branch would fail.
func TestCheckNarrowerUnion(t *testing.T) {
	old := f(`{"name":"u","type":["null","string","int"]}`)
	narrower := f(`{"name":"u","type":["null","string"]}`)
	err := checkWithin(t, Backward, narrower, old)
	var ie *IncompatibleError
	if !errors.As(err, &ie) {
		t.Fatalf("Check = %v, want *IncompatibleError", err)
	}
	for _, want := range []string{"field u", "union branch int", "refused as a whole", "only the records written with that branch"} {
		if !strings.Contains(ie.Reason, want) {
			t.Errorf("reason %q does not say %q", ie.Reason, want)
		}
	}
	// The same change read the other way (old reads new) is fine.
	if err := checkWithin(t, Forward, narrower, old); err != nil {
		t.Fatalf("Check(FORWARD) = %v", err)
	}
	// A union narrowed to a plain type says the same.
	err = checkWithin(t, Backward, f(`{"name":"u","type":"string"}`), f(`{"name":"u","type":["null","string"]}`))
	if !errors.As(err, &ie) || !strings.Contains(ie.Reason, "union branch null") || !strings.Contains(ie.Reason, "refused as a whole") {
		t.Fatalf("Check = %v, want the narrowed-union reason", err)
	}
}
