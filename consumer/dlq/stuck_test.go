package dlq

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
)

// deadLetterAs writes the dead letter of a fabricated original record of
// topic and key, changed by mutate after Build, and returns the
// original's offset.
func (e *env) deadLetterAs(topic, key string, f Failure, mutate func(*kgo.Record) *kgo.Record) int64 {
	e.t.Helper()
	off := e.offset[topic]
	e.offset[topic]++
	orig := &kgo.Record{Topic: topic, Offset: off, Key: []byte(key), Value: bytes.Repeat([]byte{'v'}, 20_000)}
	f.Group = "svc"
	e.produce(mutate(Build(dlt, orig, f)))
	return off
}

func setHeader(d *kgo.Record, k string, v []byte) *kgo.Record {
	for i := range d.Headers {
		if d.Headers[i].Key == k {
			d.Headers[i].Value = v
			return d
		}
	}
	d.Headers = append(d.Headers, kgo.RecordHeader{Key: k, Value: v})
	return d
}

// TestRedriveStuckChain protects a key's order when a dead letter of its
// chain cannot be redriven: before, a malformed head (a garbage
// ordo-redrives) was skipped and the key's later dead letters were
// republished with the lift, so the consumer handled them without it and
// lifted the quarantine. Now the rest of the chain stays, whole, and the
// run reports it: a malformed head (m), a malformed record mid-chain (p:
// its prefix is republished without the lift), a too-large head (t), and a
// head whose original partition does not parse (n: the key is held in its
// dead-letter partition); a sound chain (ok) is redriven with its lift.
func TestRedriveStuckChain(t *testing.T) {
	e := newEnv(t)
	same := func(d *kgo.Record) *kgo.Record { return d }
	garbage := func(d *kgo.Record) *kgo.Record { return setHeader(d, header.Redrives, []byte("garbage")) }
	m0 := e.deadLetterAs("orders", "m", Failure{Reason: Permanent}, garbage)
	e.deadLetterAs("orders", "m", Failure{Reason: Quarantined, QuarantineOffset: m0}, same)
	e.deadLetterAs("orders", "m", Failure{Reason: Quarantined, QuarantineOffset: m0}, same)
	p0 := e.deadLetterAs("orders", "p", Failure{Reason: Permanent}, same)
	e.deadLetterAs("orders", "p", Failure{Reason: Quarantined, QuarantineOffset: p0}, garbage)
	e.deadLetterAs("orders", "p", Failure{Reason: Quarantined, QuarantineOffset: p0}, same)
	t0 := e.deadLetterAs("orders", "t", Failure{Reason: Decode}, func(d *kgo.Record) *kgo.Record { return Fit(d, 8<<10) })
	e.deadLetterAs("orders", "t", Failure{Reason: Quarantined, QuarantineOffset: t0}, same)
	n0 := e.deadLetterAs("orders", "n", Failure{Reason: Permanent}, func(d *kgo.Record) *kgo.Record {
		return setHeader(d, header.DLTOriginalPartition, []byte{0, 0, 0})
	})
	e.deadLetterAs("orders", "n", Failure{Reason: Quarantined, QuarantineOffset: n0}, same)
	ok0 := e.deadLetterAs("orders", "ok", Failure{Reason: Permanent}, same)
	ok1 := e.deadLetterAs("orders", "ok", Failure{Reason: Quarantined, QuarantineOffset: ok0}, same)

	for _, dry := range []bool{true, false} {
		rep, err := e.dlq.Redrive(e.ctx, RedriveConfig{Topic: dlt, Group: "stuck", DryRun: dry})
		if err != nil {
			t.Fatal(err)
		}
		counts := fmt.Sprint(rep.Scanned, rep.Redriven, rep.Malformed, rep.TooLarge, rep.Held, rep.Lifted, rep.StuckChains, len(rep.Stuck))
		if counts != "12 3 3 1 5 1 4 4" {
			t.Fatalf("dry run %v: %+v, want 12 scanned, 3 redriven (p0, ok0, ok1), 3 malformed, 1 too large, 5 held, 1 lifted, 4 stuck", dry, rep)
		}
		var malformed, tooLarge, unplaced int
		for _, s := range rep.Stuck {
			switch {
			case errors.Is(s.Err, ErrMalformed) && s.Topic == "":
				unplaced++
			case errors.Is(s.Err, ErrMalformed) && s.Topic == "orders":
				malformed++
			case errors.Is(s.Err, ErrTooLarge) && s.Topic == "orders" && s.Offset == t0:
				tooLarge++
			}
		}
		if malformed != 2 || tooLarge != 1 || unplaced != 1 {
			t.Fatalf("stuck %+v", rep.Stuck)
		}
	}
	got := byKey(e.read("orders", 0, 3))
	if len(got["p"]) != 1 || len(got["ok"]) != 2 || len(got["m"])+len(got["t"])+len(got["n"]) != 0 {
		t.Fatalf("republished p %d, ok %d, m %d, t %d, n %d; want p0 and ok's chain only",
			len(got["p"]), len(got["ok"]), len(got["m"]), len(got["t"]), len(got["n"]))
	}
	if _, lift := header.Get(got["p"][0].Headers, header.RedriveLift); lift {
		t.Fatal("p0 carries the lift: its chain's later records were not redriven")
	}
	if hdr(got["ok"][1], header.RedriveLift) != fmt.Sprint(ok1) {
		t.Fatalf("ok's lift %q, want %d", hdr(got["ok"][1], header.RedriveLift), ok1)
	}
}
