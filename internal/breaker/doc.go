// Package breaker is the consumer's circuit breaker for systemic failure:
// it tells one bad record from a world that is down, and when the world
// is down it stops the consumer from retrying record by record and from
// exhausting every key into the dead-letter topic.
//
// # Why
//
// A per-record retry budget answers "is this record bad?". When the
// database behind every handler is down, every record looks bad: each
// key spends its budget on the same outage and, under a dead-letter
// policy, the topic drains into the dead-letter topic within minutes
// (the draft KIP-1316's complaint; knative's Kafka broker had a breaker
// whose open state did exactly that, its issue 2239). The breaker turns
// "most keys failing the same way" into one decision: pause dispatch and
// fetching, probe with one record on a backoff, resume when it succeeds.
//
// # States
//
//	Closed   --systemic signal-->           Open
//	Open     --probe due, Probe taken-->     HalfOpen
//	HalfOpen --probe succeeded-->            Closed
//	HalfOpen --probe failed-->               Open (next probe later, backoff doubles)
//	HalfOpen --probe abandoned-->            Open (next probe due at once)
//	any      --Reset-->                      Closed
//
// The systemic signal: for one class of error (see [Classify]), within
// the last [Config].Window, at least [Config].MinKeys distinct keys failed
// transiently and that class's failures are at least [Config].MinRatio of
// all reported attempts. One key failing again and again (a poison record
// that fails transiently) never opens it: it is one key. A rare error
// among many successes never opens it: the ratio is low.
//
// # The seam
//
// The breaker owns no goroutine and no timer; the consumer drives it:
//
//   - after a handler attempt succeeds: [Breaker.Success];
//   - after a handler attempt fails transiently: [Breaker.Failure], whose
//     [Verdict] says whether the failure is charged to the record's retry
//     budget ([Charge]) or the record is held, uncharged, until the
//     breaker closes ([Hold]); a held record is never exhausted into the
//     dead-letter topic;
//   - permanent errors and poison are not reported: they go to the
//     failure policy at once, as they do without a breaker;
//   - before dispatching a record or polling: [Breaker.Allow]; while it
//     is false, dispatch and fetching are paused;
//   - when [Breaker.NextProbe] has passed: [Breaker.Probe] hands out the
//     one probe; the consumer dispatches exactly one record with it and
//     reports its end to the [Probe];
//   - for a record's time budget: [Breaker.Mark] at its first attempt and
//     [Breaker.Charged] instead of time.Since, so time spent open is not
//     charged to anyone.
//
// Transitions are reported as [Event]s to [Config].OnEvent, once each,
// in order, outside the breaker's lock: one log line per open and per
// close, a metric, a span event. [Breaker.Snapshot] serves readiness and
// lag reports. A breaker that is open always has a probe scheduled
// (Parallel Consumer's latched intake gate paused every partition with
// nothing in the log; here the gate cannot latch silently): if the
// consumer has no record left to probe with, it calls [Breaker.Reset].
//
// # Concurrency
//
// All methods are safe for concurrent use. One mutex guards the state and
// the window; events are queued under it and delivered by whichever
// caller made the first transition, after unlocking, so a hook may call
// any method (Snapshot, even Failure) without deadlock.
package breaker
