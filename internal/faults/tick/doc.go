// Package tick is the event the fault suite's workers exchange: one step of
// a key's life, carrying its key and its per-key sequence in the payload, so
// that the checker can name every record by (key, seq) whatever the broker
// or the consumer did to it.
package tick
