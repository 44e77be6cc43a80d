package avro

// ordo fork: every array and map block count is checked before it is
// trusted. Upstream looped as many times as a block header said, on every
// path: a 20-byte body declaring 2^40 strings in a field the reader skips
// ran 2^40 iterations (reading nothing after the first EOF), a negative
// count of -2^63 grew a slice to a negative length, and an array of nulls
// or of empty records takes no bytes per item, so no amount of input
// bounds it. Here a block is refused, with an error, when
//
//   - its count is -2^63 (no positive count) or its byte size is negative;
//   - its items cannot fit in the bytes left in the body, or in the byte
//     size the block itself declares (each item takes at least
//     [minEncodedSize] bytes);
//   - the collection's items, summed over its blocks, pass
//     Config.MaxCollectionItems;
//   - it holds items that take no bytes at all and the value's running
//     total of such items passes Config.MaxCollectionItems: the one bound
//     on work that no input length limits (array<array<null>> nests it).
//   - it declares its byte size and its items, read one by one, take
//     other bytes (blockTook): a skipping reader trusts the size, so the
//     size must be the truth for readers and skippers to agree.
//
// A count beyond what the body holds is reported as an unexpected EOF
// (the body ends before the items it declares); a count past the maximum
// as a plain decode error.

import (
	"fmt"
	"io"
	"math"
)

// defaultMaxCollectionItems is Config.MaxCollectionItems's default.
const defaultMaxCollectionItems = 1 << 24 // 16,777,216

// defaultMaxSkipDepth is Config.MaxSkipDepth's default.
const defaultMaxSkipDepth = 100_000

// maxMinEncodedSize caps minEncodedSize so that sums cannot overflow.
const maxMinEncodedSize = 1 << 30

// minEncodedSize returns the fewest bytes a value of schema takes in a
// body written with it (or, for a resolved schema, with its writer): 0 for
// null and for records of only such fields, 1 for each varint, length
// prefix or union index, the size of a fixed, 4 for a float, 8 for a
// double. A resolved record's reader-only fields (filled from defaults)
// take none. A named type met again inside itself counts 0, so the result
// is a lower bound for every schema, recursive ones included.
func minEncodedSize(schema Schema) int {
	return minSizeOf(schema, nil)
}

func minSizeOf(schema Schema, visiting map[Schema]bool) int {
	switch s := schema.(type) {
	case *PrimitiveSchema:
		t := s.Type()
		if s.encodedType != "" {
			t = s.encodedType
		}
		return primitiveMinSize(t)
	case *FixedSchema:
		return min(s.Size(), maxMinEncodedSize)
	case *RefSchema:
		return minSizeOf(s.Schema(), visiting)
	case *RecordSchema:
		if visiting[s] {
			return 0
		}
		if visiting == nil {
			visiting = map[Schema]bool{}
		}
		visiting[s] = true
		defer delete(visiting, s)
		n := 0
		for _, f := range s.Fields() {
			if f.action == FieldSetDefault {
				continue
			}
			n = min(n+minSizeOf(f.Type(), visiting), maxMinEncodedSize)
		}
		return n
	case *EnumSchema, *ArraySchema, *MapSchema, *UnionSchema:
		return 1
	}
	return 0
}

func primitiveMinSize(t Type) int {
	switch t {
	case Null:
		return 0
	case Float:
		return 4
	case Double:
		return 8
	}
	return 1
}

// remaining returns how many bytes are left in the body, and false when
// the Reader streams from an io.Reader and cannot know.
func (r *Reader) remaining() (int64, bool) {
	if r.reader != nil {
		return 0, false
	}
	return int64(r.tail - r.head), true
}

// readBlock reads the header of the next block of a collection whose
// items take at least itemSize bytes each, and checks it as the file's
// comment says. total is the collection's running item count, updated.
// It returns the block's item count and, for a block written with a
// negative count, its byte size (else 0). A count of 0 ends the
// collection; on any error the count is 0 and r.Error is set.
func (r *Reader) readBlock(op string, itemSize int, total *int64) (int64, int64) {
	count, size, sized := r.readBlockHeader()
	if r.Error != nil || count == 0 {
		return 0, 0
	}
	if err := r.checkBlock(count, size, sized, itemSize, total); err != nil {
		r.Error = fmt.Errorf("avro: %s: %w", op, err)
		return 0, 0
	}
	return count, size
}

func (r *Reader) checkBlock(count, size int64, sized bool, itemSize int, total *int64) error {
	k := int64(itemSize)
	if sized && k > 0 && count > size/k {
		return fmt.Errorf("block of %d items of at least %d bytes declares only %d bytes", count, k, size)
	}
	if left, ok := r.remaining(); ok {
		if size > left {
			return fmt.Errorf("block declares %d bytes, %d left: %w", size, left, io.ErrUnexpectedEOF)
		}
		if k > 0 && count > left/k {
			return fmt.Errorf("block of %d items of at least %d bytes, %d bytes left: %w", count, k, left, io.ErrUnexpectedEOF)
		}
	}
	maxItems := r.cfg.getMaxCollectionItems()
	if count > maxItems-*total {
		return fmt.Errorf("more than %d items (Config.MaxCollectionItems)", maxItems)
	}
	*total += count
	if k == 0 {
		if count > maxItems-r.emptyItems {
			return fmt.Errorf("more than %d items of zero bytes in one value (Config.MaxCollectionItems)", maxItems)
		}
		r.emptyItems += count
	}
	return nil
}

// blockTook checks, after a block's items were read item by item, that
// they took the byte size the block declared (size > 0): a skip decoder
// skips a sized block by its size, so a size that lies would make a
// reader that skips the field read the rest of the body otherwise than a
// reader that decodes it. A streaming Reader cannot tell and is not
// checked.
func (r *Reader) blockTook(op string, at int, size int64) bool {
	if size <= 0 || r.reader != nil || r.Error != nil {
		return r.Error == nil
	}
	if took := int64(r.head - at); took != size {
		r.Error = fmt.Errorf("avro: %s: block declares %d bytes, its items took %d", op, size, took)
		return false
	}
	return true
}

// checkLength checks the length of a string or bytes to skip against the
// bytes left in the body. op is a constant: the check runs on every
// string skipped and must not allocate (readBytes checks inline, for the
// same reason).
func (r *Reader) checkLength(op string, size int64) bool {
	if size < 0 {
		r.ReportError(op, fmt.Sprintf("negative length %d", size))
		return false
	}
	if left, ok := r.remaining(); ok && size > left {
		r.Error = fmt.Errorf("avro: %s: length %d, %d bytes left: %w", op, size, left, io.ErrUnexpectedEOF)
		return false
	}
	return true
}

// ReadBlockHeader reads a block header from the Reader: the item count
// and, when the count was written negative, the block's byte size (else
// 0). ordo fork: a count of -2^63 (which has no positive) or a negative
// byte size is an error, and the count returned is then 0.
func (r *Reader) ReadBlockHeader() (int64, int64) {
	count, size, _ := r.readBlockHeader()
	return count, size
}

// readBlockHeader is ReadBlockHeader that also says whether the block
// declared its byte size.
func (r *Reader) readBlockHeader() (count, size int64, sized bool) {
	length := r.ReadLong()
	if length >= 0 {
		return length, 0, false
	}
	if length == math.MinInt64 {
		r.ReportError("ReadBlockHeader", "invalid block count")
		return 0, 0, false
	}
	size = r.ReadLong()
	if size < 0 {
		r.ReportError("ReadBlockHeader", "invalid block size")
		return 0, 0, false
	}
	return -length, size, true
}
