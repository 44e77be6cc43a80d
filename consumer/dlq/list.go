package dlq

import (
	"context"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
)

// Summary is what [Client.List] found in a dead-letter topic.
type Summary struct {
	Total     int     // dead letters read
	Malformed int     // whose dead-letter headers did not parse
	Groups    []Count // by original topic, reason, type and family, sorted so
}

// Count is the dead letters of one original topic, reason and event type
// (the ordo-type header; empty without it) written by one [Family] of
// tools, with the times the oldest and newest of them were dead-lettered.
type Count struct {
	Topic   string
	Reason  Reason // empty for a dead letter not written by ordo
	Type    string
	Family  Family
	Records int
	Oldest  time.Time
	Newest  time.Time
}

type countKey struct {
	topic  string
	reason Reason
	typ    string
	family Family
}

// List reads topic from its start to its end offsets at the call and
// counts its dead letters. Cancelling ctx stops it with ctx's error.
func (c *Client) List(ctx context.Context, topic string) (Summary, error) {
	var s Summary
	counts := make(map[countKey]*Count)
	err := c.read(ctx, topic, func(d *kgo.Record) error {
		s.Total++
		info, err := Parse(d)
		if err != nil {
			s.Malformed++
			return nil
		}
		typ, _ := header.Get(d.Headers, header.Type)
		k := countKey{info.Topic, info.Reason, typ, info.Family}
		n := counts[k]
		if n == nil {
			n = &Count{Topic: k.topic, Reason: k.reason, Type: k.typ, Family: k.family, Oldest: d.Timestamp, Newest: d.Timestamp}
			counts[k] = n
		}
		n.Records++
		if d.Timestamp.Before(n.Oldest) {
			n.Oldest = d.Timestamp
		}
		if d.Timestamp.After(n.Newest) {
			n.Newest = d.Timestamp
		}
		return nil
	})
	for _, n := range counts {
		s.Groups = append(s.Groups, *n)
	}
	sort.Slice(s.Groups, func(i, j int) bool {
		a, b := s.Groups[i], s.Groups[j]
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		if a.Reason != b.Reason {
			return a.Reason < b.Reason
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Family < b.Family
	})
	return s, err
}

// read hands every record of topic, from its start to its end offsets at
// the call, to fn, in offset order per partition.
func (c *Client) read(ctx context.Context, topic string, fn func(*kgo.Record) error) error {
	cl, err := c.kgoClient(nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	spans, err := bounds(ctx, kadm.NewClient(cl), topic, "")
	if err != nil {
		return err
	}
	return scan(ctx, cl, topic, spans, func(batch []*kgo.Record) error {
		for _, d := range batch {
			if err := fn(d); err != nil {
				return err
			}
		}
		return nil
	})
}
