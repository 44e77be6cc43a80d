package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
)

// Kinds of events.
const (
	Start   = "start"   // a consumer incarnation began
	Handled = "handled" // a handler finished a record (written before it returns)
	Dead    = "dead"    // a record was dead-lettered (its write acknowledged)
	// DeadPending: the consumer is dead-lettering a record (ordo's
	// ErrorHook, before the write is acknowledged); not a finish: the
	// runner reads the dead-letter topic and journals Dead for what is there.
	DeadPending = "dead-pending"
	// Replay: a consumer incarnation's catch-up accounting at its graceful
	// exit (consumer.ReplayStats as JSON in Text).
	Replay = "replay"
	// RecordError: the consumer reported a record it could not handle
	// (ordo's ErrorHook); not a finish.
	RecordError = "record-error"
	Assigned    = "assigned" // partitions assigned to an incarnation
	Revoked     = "revoked"  // partitions revoked from an incarnation
	Lost        = "lost"     // partitions lost by an incarnation
	Acked       = "acked"    // Kafka acknowledged a published record
	Failed      = "failed"   // a publish failed (the record may or may not exist)
	Fault       = "fault"    // the runner injected a fault
	Note        = "note"     // free text, for humans
	// Committed: an outbox writer's transaction with an event committed
	// (journaled after COMMIT returned): Key, Seq, the event ID in Text.
	Committed = "committed"
	// InboxDuplicate: an inbox consumer skipped a record whose mark was
	// already committed (its handler was not called).
	InboxDuplicate = "inbox-duplicate"
)

// Event is one line. Which fields are set depends on Kind; times are Unix
// nanoseconds from the wall clock, shared by every process on the host.
type Event struct {
	Kind      string `json:"ev"`
	Inc       string `json:"inc,omitempty"` // consumer incarnation
	Partition int32  `json:"p"`
	Offset    int64  `json:"o"`
	Key       string `json:"k,omitempty"`
	Seq       int64  `json:"s,omitempty"`
	Start     int64  `json:"t0,omitempty"` // handler start
	End       int64  `json:"t1,omitempty"` // handler end
	Time      int64  `json:"t,omitempty"`  // when the event happened

	// Partitions lists the partitions of a rebalance event; nil means "all"
	// (the consumer's log line could not be parsed).
	Partitions []int32 `json:"ps,omitempty"`
	// Fault names the fault of a Fault event ("kill", "stop", "leader-kill").
	Fault string `json:"fault,omitempty"`
	// Target is what the fault hit: an incarnation or a broker node.
	Target string `json:"target,omitempty"`
	// Committed is the group's committed offset per partition, read by the
	// runner once the target incarnation could no longer commit; set (if
	// empty: nothing committed yet) exactly when the fault ended the target
	// incarnation, nil otherwise.
	Committed map[int32]int64 `json:"committed"`
	Text      string          `json:"text,omitempty"`
}

// Writer appends events to a file. It is safe for concurrent use.
type Writer struct {
	mu    sync.Mutex
	f     *os.File
	fsync bool
	buf   []byte
}

// Create opens path for appending (creating it), so that several
// incarnations of a worker can share one journal. With fsync, every Write
// is also synced to disk.
func Create(path string, fsync bool) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return &Writer{f: f, fsync: fsync}, nil
}

// Write appends e as one line with a single write(2): when Write returns,
// the line survives the process being killed.
func (w *Writer) Write(e Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	w.buf = append(append(w.buf[:0], b...), '\n')
	if _, err := w.f.Write(w.buf); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if w.fsync {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	return nil
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

// Read returns the events of the journals at paths, file by file in line
// order. A missing file is an empty journal. A last line without its
// newline (a write cut short) is ignored; any other line that does not
// parse is an error.
func Read(paths ...string) ([]Event, error) {
	var out []Event
	for _, path := range paths {
		evs, err := readOne(path)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
	}
	return out, nil
}

func readOne(path string) ([]Event, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if i := bytes.LastIndexByte(data, '\n'); i < len(data)-1 {
		data = data[:i+1] // drop a torn last line
	}
	var out []Event
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("journal: %s:%d: %w", path, n, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}
