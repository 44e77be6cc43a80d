package lru

import "testing"

// TestBounded protects the memory bound: the cache never holds more than max
// entries and forgets the least recently used one first.
func TestBounded(t *testing.T) {
	c := New[string, int](2)
	c.Put("a", 1)
	c.Put("b", 2)
	if _, ok := c.Get("a"); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	if !c.Put("c", 3) {
		t.Fatal("Put into a full cache did not evict")
	}
	if _, ok := c.Get("b"); ok {
		t.Fatal("b should have been evicted as least recently used")
	}
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("a = %d, %v; want 1, true", v, ok)
	}
	if c.Len() != 2 {
		t.Fatalf("Len = %d, want 2", c.Len())
	}
	c.Put("a", 10)
	if v, _ := c.Get("a"); v != 10 {
		t.Fatalf("updated a = %d, want 10", v)
	}
	c.Delete("a")
	if _, ok := c.Get("a"); ok || c.Len() != 1 {
		t.Fatalf("after Delete: present=%v len=%d", ok, c.Len())
	}
}
