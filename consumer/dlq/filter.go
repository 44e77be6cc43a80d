package dlq

import (
	"bytes"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Filter selects dead letters. Each set field narrows the selection; the
// zero Filter selects everything. Fields are ANDed, values within a field
// ORed.
type Filter struct {
	Topics  []string // original topics
	Keys    [][]byte // original keys (exact bytes)
	Reasons []Reason // ordo-reason values
	// From and To bound the time the record was dead-lettered (the
	// dead-letter record's own timestamp): From <= t < To. Zero is open.
	From, To time.Time
}

// Match reports whether the dead letter d, whose headers parsed as info,
// is selected.
func (f Filter) Match(d *kgo.Record, info Info) bool {
	if len(f.Topics) > 0 && !slices.Contains(f.Topics, info.Topic) {
		return false
	}
	if len(f.Keys) > 0 && !slices.ContainsFunc(f.Keys, func(k []byte) bool { return bytes.Equal(k, d.Key) }) {
		return false
	}
	if len(f.Reasons) > 0 && !slices.Contains(f.Reasons, info.Reason) {
		return false
	}
	if !f.From.IsZero() && d.Timestamp.Before(f.From) {
		return false
	}
	if !f.To.IsZero() && !d.Timestamp.Before(f.To) {
		return false
	}
	return true
}

func (f Filter) isZero() bool {
	return len(f.Topics) == 0 && len(f.Keys) == 0 && len(f.Reasons) == 0 && f.From.IsZero() && f.To.IsZero()
}
