// Package header names the record headers ordo writes and reads. The names
// are part of ordo's wire contract (see DESIGN.md): other languages' clients
// read them, so they never change once released.
package header

import "github.com/twmb/franz-go/pkg/kgo"

const (
	// Type is the full Avro name of the event type.
	Type = "ordo-type"
	// ID is the event's unique, time-ordered ID (UUIDv7).
	ID = "ordo-id"
	// Producer is the ID of the producer instance that wrote the event.
	Producer = "ordo-producer"
	// Seq is the per-key sequence number from that producer instance.
	Seq = "ordo-seq"
	// Partitions is the topic's partition count as the producer knew it
	// when it placed the record (decimal). It makes the count an ordered
	// stream was written under durable in the topic itself: a producer
	// that starts later, and every consumer, can see that it changed.
	Partitions = "ordo-partitions"
	// Attempts is the number of handler attempts a dead-lettered record had.
	Attempts = "ordo-attempts"
	// Reason says why a record was dead-lettered.
	Reason = "ordo-reason"
	// TraceParent and TraceState carry W3C trace context.
	TraceParent = "traceparent"
	TraceState  = "tracestate"
)

// Get returns the value of the last header named key, and whether there is one.
func Get(headers []kgo.RecordHeader, key string) (string, bool) {
	for i := len(headers) - 1; i >= 0; i-- {
		if headers[i].Key == key {
			return string(headers[i].Value), true
		}
	}
	return "", false
}
