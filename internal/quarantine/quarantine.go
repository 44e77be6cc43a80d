package quarantine

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
)

const (
	// DefaultMaxBytes bounds the encoded set by default.
	DefaultMaxBytes = 3072
	prefix          = "q1:"
	entryBytes      = 24
	encodedEntry    = entryBytes * 4 / 3 // 32: 24 is a multiple of 3, so no padding between entries
)

var (
	// ErrFull: the set is at its cap and a new key cannot be added.
	ErrFull = errors.New("quarantine: set is full")
	// ErrNoSet: the commit metadata holds no set: it lacks the version
	// prefix (franz-go writes its member ID when a commit does not set
	// metadata; other clients write their own or nothing). No quarantine
	// is known for the partition.
	ErrNoSet = errors.New("quarantine: commit metadata holds no quarantine set")
	// ErrFormat: commit metadata with the version prefix whose body is
	// corrupt.
	ErrFormat = errors.New("quarantine: corrupt quarantine set")
)

// Entry is one key's quarantine: the offset of the record whose dead
// letter started it, and the last offset dead-lettered behind it (equal to
// Start until one is).
type Entry struct {
	Start int64
	Last  int64
}

// Set is the quarantined keys of one partition. It is not safe for
// concurrent use: the partition's owner holds it.
type Set struct {
	max int
	m   map[uint64]Entry
	j   *journal // nil: the set lives in commit metadata
}

// New returns an empty set whose encoding stays within maxBytes (0 means
// [DefaultMaxBytes]); maxBytes must leave room for one key.
func New(maxBytes int) (*Set, error) {
	if maxBytes == 0 {
		maxBytes = DefaultMaxBytes
	}
	max := (maxBytes - len(prefix)) / encodedEntry
	if max < 1 {
		return nil, fmt.Errorf("quarantine: max bytes %d leaves no room for a key (need %d)", maxBytes, len(prefix)+encodedEntry)
	}
	return &Set{max: max, m: make(map[uint64]Entry)}, nil
}

// Hash is the hash a key is stored under.
func Hash(key []byte) uint64 {
	h := fnv.New64a()
	h.Write(key)
	return h.Sum64()
}

// Len is the number of quarantined keys; Cap the most the set holds.
func (s *Set) Len() int { return len(s.m) }

// Cap is the most keys the set holds.
func (s *Set) Cap() int { return s.max }

// Get returns key's quarantine, if it is quarantined.
func (s *Set) Get(key []byte) (Entry, bool) {
	e, ok := s.m[Hash(key)]
	return e, ok
}

// Start quarantines key from offset, or restarts its quarantine there (a
// redriven record of the key failed again). A new key in a full set is
// [ErrFull] and the set is unchanged.
func (s *Set) Start(key []byte, offset int64) error {
	h := Hash(key)
	old, ok := s.m[h]
	if !ok && len(s.m) >= s.max {
		return ErrFull
	}
	e := Entry{Start: offset, Last: offset}
	s.m[h] = e
	if s.j != nil {
		s.j.note(h, state{ok, old}, offset, state{true, e})
	}
	return nil
}

// Follow records that the record at offset was dead-lettered behind key's
// quarantine. It reports false, and does nothing, when key is not
// quarantined.
func (s *Set) Follow(key []byte, offset int64) bool {
	h := Hash(key)
	e, ok := s.m[h]
	if !ok {
		return false
	}
	if offset > e.Last {
		old := e
		e.Last = offset
		s.m[h] = e
		if s.j != nil {
			s.j.note(h, state{true, old}, offset, state{true, e})
		}
	}
	return true
}

// Lift ends key's quarantine when it is the chain that started at chain
// and nothing was dead-lettered behind it after offset lift (the redrive's
// ordo-redrive-chain and ordo-redrive-lift headers). It reports whether it
// lifted.
//
// In a store-backed set the lift takes effect, for a consumer that
// restarts from a committed offset, from the commit that passes e.Last,
// not the lifting record: every record of the key after e.Last and before
// the lifting record is one of the chain's redriven records (any other
// would have been dead-lettered behind the quarantine and raised e.Last),
// and those are handled whether the key is quarantined under their chain
// (rule 3) or not at all (rule 1). Dating it so keeps each key's changes
// in offset order.
func (s *Set) Lift(key []byte, chain, lift int64) bool {
	h := Hash(key)
	e, ok := s.m[h]
	if !ok || e.Start != chain || e.Last > lift {
		return false
	}
	delete(s.m, h)
	if s.j != nil {
		s.j.note(h, state{true, e}, e.Last, state{})
	}
	return true
}

// Encode returns the set as commit metadata, at most the set's max bytes.
// A store-backed set (see [Store]) encodes as "": its keys are in the
// store.
func (s *Set) Encode() string {
	if len(s.m) == 0 || s.j != nil {
		return ""
	}
	hs := make([]uint64, 0, len(s.m))
	for h := range s.m {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	buf := make([]byte, 0, len(hs)*entryBytes)
	for _, h := range hs {
		e := s.m[h]
		buf = binary.BigEndian.AppendUint64(buf, h)
		buf = binary.BigEndian.AppendUint64(buf, uint64(e.Start))
		buf = binary.BigEndian.AppendUint64(buf, uint64(e.Last))
	}
	return prefix + base64.RawURLEncoding.EncodeToString(buf)
}

// Decode returns the set encoded in metadata, bounded by maxBytes as in
// [New]. Empty metadata is the empty set. Metadata without the version
// prefix returns the empty set and [ErrNoSet], for the caller to note;
// a corrupt set is an error matching [ErrFormat], and one with more keys
// than maxBytes allows matches [ErrFull], both with a nil set.
func Decode(metadata string, maxBytes int) (*Set, error) {
	s, err := New(maxBytes)
	if err != nil || metadata == "" {
		return s, err
	}
	body, ok := strings.CutPrefix(metadata, prefix)
	if !ok {
		return s, ErrNoSet
	}
	buf, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(buf)%entryBytes != 0 || len(buf) == 0 {
		return nil, fmt.Errorf("%w: bad body (%d bytes)", ErrFormat, len(body))
	}
	if n := len(buf) / entryBytes; n > s.max {
		return nil, fmt.Errorf("%w: %d keys, cap %d", ErrFull, n, s.max)
	}
	for ; len(buf) > 0; buf = buf[entryBytes:] {
		h := binary.BigEndian.Uint64(buf)
		e := Entry{Start: int64(binary.BigEndian.Uint64(buf[8:])), Last: int64(binary.BigEndian.Uint64(buf[16:]))}
		if _, dup := s.m[h]; dup || e.Start < 0 || e.Last < e.Start {
			return nil, fmt.Errorf("%w: bad entry", ErrFormat)
		}
		s.m[h] = e
	}
	return s, nil
}
