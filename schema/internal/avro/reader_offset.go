package avro

// InputOffset returns how many bytes of the input the Reader has consumed
// (ordo fork: upstream has no way to say where a decode stopped, so every
// schema.DecodeError said -1). At the end of a Reader over a byte slice
// it is the slice's length.
func (r *Reader) InputOffset() int { return r.head }
