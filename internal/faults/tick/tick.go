// Package tick is the event the fault suite's workers exchange: one step of
// a key's life, carrying its key and its per-key sequence in the payload, so
// that the checker can name every record by (key, seq) whatever the broker
// or the consumer did to it.
package tick

// Avsc is the Avro schema of [Tick].
const Avsc = `{"type":"record","name":"Tick","namespace":"ordo.faults","fields":[
	{"name":"key","type":"string"},
	{"name":"seq","type":"long"},
	{"name":"pad","type":"string","default":""}]}`

// Tick is the seq-th event of Key, counted from 1 by the producer that
// wrote it. Pad brings the record to a realistic size.
type Tick struct {
	Key string `avro:"key"`
	Seq int64  `avro:"seq"`
	Pad string `avro:"pad"`
}

// PartitionKey makes every Tick of one key land on one partition.
func (t Tick) PartitionKey() string { return t.Key }
