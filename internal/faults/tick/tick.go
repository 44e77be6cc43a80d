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
