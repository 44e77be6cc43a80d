// Package journal is the append-only record the fault suite's processes keep
// of what they did: one JSON line per event, written with one write(2) call
// each, so that a line the process wrote before it was SIGKILLed is in the
// file (the kernel holds it) and a line it did not write is not. Fsync is
// optional: the suite kills processes, not machines.
//
// The producer writes [Acked] lines, the consumer [Start], [Handled],
// [Dead] and rebalance lines, and the runner [Fault] lines; the checker
// reads them all back with [Read].
package journal
