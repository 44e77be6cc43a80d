package telemetry

import (
	"sync"
	"time"
)

// LogLimit bounds the log lines of a condition that repeats once per
// record (a retry, a dead letter): an outage or a catch-up repeats it for
// every record, tens of thousands of lines that say one thing. Each
// condition (a short, low-cardinality name such as "retry/timeout") may
// log Burst lines per Every; the lines it drops are counted and the count
// is given to the condition's next line, so an operator reads "and 523
// more like it" instead of 523 lines. Metrics still count every
// occurrence. The zero value allows every line. Safe for concurrent use.
type LogLimit struct {
	Every time.Duration
	Burst int

	mu    sync.Mutex
	conds map[string]*logWindow
}

type logWindow struct {
	start      time.Time
	n          int // lines allowed in this window
	suppressed int // lines dropped since the last allowed one
}

// maxConds bounds the conditions remembered: beyond it, a new
// condition's lines are allowed and not counted (conditions are meant to
// be a handful; a caller that mints them per record gets no limit rather
// than unbounded memory).
const maxConds = 1024

// Allow reports whether a line of cond may be logged now, and how many of
// cond's lines were dropped since the last one allowed.
func (l *LogLimit) Allow(cond string, now time.Time) (ok bool, suppressed int) {
	if l == nil || l.Every <= 0 || l.Burst <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.conds[cond]
	if w == nil {
		if l.conds == nil {
			l.conds = make(map[string]*logWindow)
		}
		if len(l.conds) >= maxConds {
			return true, 0
		}
		w = &logWindow{start: now}
		l.conds[cond] = w
	}
	if now.Sub(w.start) >= l.Every {
		w.start, w.n = now, 0
	}
	if w.n >= l.Burst {
		w.suppressed++
		return false, 0
	}
	w.n++
	suppressed, w.suppressed = w.suppressed, 0
	return true, suppressed
}
