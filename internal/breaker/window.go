package breaker

import "time"

// buckets is how finely the window slides: a count forgets its oldest
// tenth of the window at a time.
const buckets = 10

// maxClasses bounds the classes tracked at once; past it the class seen
// least recently is forgotten (a flood of distinct errors is not "alike").
const maxClasses = 32

// count is one number over the sliding window, kept in buckets of
// span/buckets: slot i holds the count of bucket index idx, and a slot
// whose index fell out of the window counts as zero.
type count struct {
	slot [buckets]struct {
		idx int64
		n   int
	}
}

func (c *count) add(idx int64) { c.addN(idx, 1) }

func (c *count) addN(idx int64, n int) {
	s := &c.slot[idx%buckets]
	if s.idx != idx {
		s.idx, s.n = idx, 0
	}
	s.n += n
}

func (c *count) sum(idx int64) int {
	total := 0
	for _, s := range c.slot {
		if s.idx > idx-buckets && s.idx <= idx {
			total += s.n
		}
	}
	return total
}

// seen is one key's latest failure in a class.
type seen struct {
	h  uint64
	at time.Time
}

// class is what the window knows of one class of error.
type class struct {
	name     string
	failures count
	keys     []seen // the most recent distinct keys, at most minKeys
	sample   error
	last     time.Time
}

// touch records key h failing at now. Keeping only the minKeys most
// recent distinct keys is exact for the question asked ("did at least
// minKeys distinct keys fail since t?") and bounds memory per class.
func (c *class) touch(h uint64, now time.Time, minKeys int) {
	oldest := 0
	for i, s := range c.keys {
		if s.h == h {
			c.keys[i].at = now
			return
		}
		if s.at.Before(c.keys[oldest].at) {
			oldest = i
		}
	}
	if len(c.keys) < minKeys {
		c.keys = append(c.keys, seen{h, now})
		return
	}
	c.keys[oldest] = seen{h, now}
}

func (c *class) keysSince(t time.Time) int {
	n := 0
	for _, s := range c.keys {
		if !s.at.Before(t) {
			n++
		}
	}
	return n
}

// window holds the attempts and failures of the last span.
type window struct {
	span, width time.Duration
	origin      time.Time
	minKeys     int
	attempts    count
	classes     map[string]*class
}

func newWindow(span time.Duration, minKeys int, now time.Time) *window {
	return &window{
		span: span, width: max(span/buckets, 1), origin: now, minKeys: minKeys,
		classes: make(map[string]*class),
	}
}

// index is now's bucket; a clock that steps back lands in bucket 0.
func (w *window) index(now time.Time) int64 {
	return max(int64(now.Sub(w.origin)/w.width), 0)
}

func (w *window) success(now time.Time, n int) { w.attempts.addN(w.index(now), n) }

// failure records a transient failure of key h with class name and says
// how many distinct keys failed in that class within the window and what
// share of the window's attempts its failures are.
func (w *window) failure(now time.Time, h uint64, name string, err error) (c *class, keys int, ratio float64) {
	idx := w.index(now)
	w.attempts.add(idx)
	c = w.class(name, now)
	c.failures.add(idx)
	c.touch(h, now, w.minKeys)
	c.sample, c.last = err, now
	keys = c.keysSince(now.Add(-w.span))
	ratio = float64(c.failures.sum(idx)) / float64(max(w.attempts.sum(idx), 1))
	return c, keys, ratio
}

func (w *window) class(name string, now time.Time) *class {
	if c, ok := w.classes[name]; ok {
		return c
	}
	if len(w.classes) >= maxClasses {
		var stale *class
		for _, c := range w.classes {
			if stale == nil || c.last.Before(stale.last) {
				stale = c
			}
		}
		delete(w.classes, stale.name)
	}
	c := &class{name: name, last: now}
	w.classes[name] = c
	return c
}
