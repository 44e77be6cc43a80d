package journal

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// What one writer appended, another process reads back, whatever a kill
// cut short at the end; incarnations share the file.
func TestWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	want := []Event{
		{Kind: Handled, Inc: "a", Partition: 0, Offset: 7, Key: "k", Seq: 3, Start: 1, End: 2},
		{Kind: Fault, Fault: "kill", Target: "a", Time: 3, Committed: map[int32]int64{}},
		{Kind: Fault, Fault: "leader-kill", Target: "node-1", Time: 4},
	}
	for _, e := range want {
		w, err := Create(path, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"ev":"handled","p":1,"o"`) // torn last line
	f.Close()
	got, err := Read(path, filepath.Join(t.TempDir(), "missing.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read %+v\nwant %+v", got, want)
	}
	// An empty committed map (nothing committed yet) stays distinct from
	// none (the fault ended no incarnation).
	if got[1].Committed == nil || got[2].Committed != nil {
		t.Fatalf("committed maps: %v, %v", got[1].Committed, got[2].Committed)
	}
}

func TestReadRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	os.WriteFile(path, []byte("{\"ev\":\"acked\"}\nnot json\n"), 0o644)
	if _, err := Read(path); err == nil {
		t.Fatal("a corrupt line in the middle was accepted")
	}
}
