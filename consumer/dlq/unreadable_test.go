package dlq

import (
	"errors"
	"testing"
)

// TestRedriveLeavesUnreadable protects redrive's default for records the
// consumer could not read (not a frame, schema unknown or unusable, a body
// that does not decode): republished unchanged they would fail again and
// drag their quarantine chain back with them, so they are left, counted,
// and their key's chain held; IncludeUnreadable republishes them all.
func TestRedriveLeavesUnreadable(t *testing.T) {
	e := newEnv(t)
	head := e.deadLetter("orders", "u", Failure{Reason: Unframe, Stage: StageUnframe, Err: errors.New("bad magic byte")})
	e.deadLetter("orders", "u", Failure{Reason: Quarantined, Stage: StageQuarantine, QuarantineOffset: head})
	e.deadLetter("orders", "r", Failure{Reason: Permanent, Stage: StageHandle, Err: errors.New("refused")})
	e.deadLetter("orders", "", Failure{Reason: Decode, Stage: StageDecode, Err: errors.New("short buffer")})

	rep, err := e.dlq.Redrive(e.ctx, RedriveConfig{Topic: dlt, Group: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Redriven != 1 || rep.Unreadable != 2 || rep.Held != 1 || rep.StuckChains != 1 ||
		len(rep.Stuck) != 1 || !errors.Is(rep.Stuck[0].Err, ErrUnreadable) || rep.Stuck[0].Offset != head {
		t.Fatalf("default redrive: %+v; want the readable record republished, the 2 unreadable left and u's chain held", rep)
	}
	if sum := rep.Redriven + rep.Filtered + rep.Held + rep.LoopGuarded + rep.Malformed + rep.TooLarge + rep.Unreadable; sum != rep.Scanned {
		t.Fatalf("the report's counts add up to %d of %d scanned", sum, rep.Scanned)
	}
	rep, err = e.dlq.Redrive(e.ctx, RedriveConfig{Topic: dlt, Group: "asked", IncludeUnreadable: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Redriven != 4 || rep.Unreadable != 0 || rep.StuckChains != 0 {
		t.Fatalf("redrive with IncludeUnreadable: %+v; want all 4 republished", rep)
	}
}
