// Package lru is a small bounded map that forgets its least recently used
// entries. It is what keeps ordo's per-key state (sequence stamps and checks)
// within a fixed memory budget however many keys a stream carries.
package lru

import "container/list"

// Cache maps keys to values and holds at most a fixed number of entries. It
// is not safe for concurrent use; callers hold their own lock.
type Cache[K comparable, V any] struct {
	max   int
	order *list.List // front is most recently used
	items map[K]*list.Element
}

type entry[K comparable, V any] struct {
	key K
	val V
}

// New returns a cache that holds at most max entries (at least one).
func New[K comparable, V any](max int) *Cache[K, V] {
	if max < 1 {
		max = 1
	}
	return &Cache[K, V]{max: max, order: list.New(), items: make(map[K]*list.Element)}
}

// Get returns the value for k and marks it recently used.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	if el, ok := c.items[k]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*entry[K, V]).val, true
	}
	var zero V
	return zero, false
}

// Put sets the value for k, evicting the least recently used entry when the
// cache is full. It reports whether an entry was evicted.
func (c *Cache[K, V]) Put(k K, v V) (evicted bool) {
	if el, ok := c.items[k]; ok {
		el.Value.(*entry[K, V]).val = v
		c.order.MoveToFront(el)
		return false
	}
	if c.order.Len() >= c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*entry[K, V]).key)
		evicted = true
	}
	c.items[k] = c.order.PushFront(&entry[K, V]{key: k, val: v})
	return evicted
}

// Delete removes k.
func (c *Cache[K, V]) Delete(k K) {
	if el, ok := c.items[k]; ok {
		c.order.Remove(el)
		delete(c.items, k)
	}
}

// Len is the number of entries held.
func (c *Cache[K, V]) Len() int { return c.order.Len() }
