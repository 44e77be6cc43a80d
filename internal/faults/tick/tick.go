package tick

import "hash/fnv"

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

// Poison reports whether the consumer worker run with -poison n fails this
// event permanently: about one event in n, chosen by (key, seq) alone, so
// every incarnation and the checker agree.
func (t Tick) Poison(n uint64) bool {
	h := fnv.New64a()
	h.Write([]byte(t.Key))
	h.Write([]byte{byte(t.Seq), byte(t.Seq >> 8), byte(t.Seq >> 16), byte(t.Seq >> 24)})
	return h.Sum64()%n == 0
}
