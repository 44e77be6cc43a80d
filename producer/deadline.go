package producer

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Why the producer keeps its own delivery deadline.
//
// kgo.RecordDeliveryTimeout alone does not bound an idempotent producer's
// record once a request carrying it has gone out without an answer: kgo
// will not fail a record it cannot tell written from unwritten, so with a
// broker that went away after the topic was used, or one that keeps the
// connection open and stops answering, Publish(context.Background()) with
// a 3 s DeliveryTimeout was still waiting at 60 s
// (TestDeliveryTimeoutWhenBrokerGoes). kgo.AllowIdempotentProduceCancellation
// lets kgo fail such a record, but kgo checks the timeout only between
// requests: a black-holed request is abandoned when its read deadline
// passes (the produce timeout plus overheads, 20 s and more), and a
// refused one after a retry backoff.
//
// So every record's Context (its inflight) carries a deadline, the
// DeliveryTimeout after it was handed over: kgo cancels the request
// carrying a record whose deadline passed and fails the record's batch.
// Records handed over within one deliveryWindow share one deadline (one
// context and one timer per window, not per record); a record's deadline
// is therefore between DeliveryTimeout and DeliveryTimeout+deliveryWindow
// after it was handed over.

// maxDeliveryWindow bounds how late past its DeliveryTimeout a record's
// deadline may be (the window is a tenth of the timeout, at most this).
const maxDeliveryWindow = 100 * time.Millisecond

// deliveryGrace is how long a synchronous Publish waits past its record's
// deadline for kgo to report the record before returning
// ErrDeliveryTimeout itself. kgo reports well within it in every broker
// state tested; the grace makes the bound not depend on that.
const deliveryGrace = 900 * time.Millisecond

// DeliverySlack is how long past the [DeliveryTimeout] a synchronous
// Publish, PublishAll or PublishBatch may take to return
// [ErrDeliveryTimeout] once its events were handed to the client: up to
// 100 ms because records handed over within one window share a deadline,
// and 900 ms of grace for the client to report them before the call
// stops waiting on its own (the event may then still be written).
const DeliverySlack = maxDeliveryWindow + deliveryGrace

// deadlines hands out the shared deadline of the current window.
type deadlines struct {
	timeout time.Duration
	width   time.Duration
	cur     atomic.Pointer[deadline]
	mu      sync.Mutex // serialises opening a window
}

// deadline is one window's: records handed over from start (monoNow) to
// start+width share ctx, which ends width+timeout after start.
type deadline struct {
	ctx        context.Context
	late       context.Context    // ends deliveryGrace after ctx: see lateFor
	cancel     context.CancelFunc // unused: the deadlines free the timers
	cancelLate context.CancelFunc
	start      time.Duration
	end        time.Duration // start+width: the window closes
}

func newDeadlines(timeout time.Duration) *deadlines {
	d := &deadlines{timeout: timeout, width: min(timeout/10, maxDeliveryWindow)}
	d.at(monoNow()) // cur is never nil
	return d
}

// late returns a channel closed once every record handed over so far is
// past its deadline and deliveryGrace: a synchronous publish stops
// waiting for kgo's report then. The current window's deadline is no
// earlier than that of any record handed over before (see at), so a
// waiter pays for no timer of its own.
func (d *deadlines) late() <-chan struct{} { return d.cur.Load().late.Done() }

// at returns the deadline of a record handed over at now (monoNow).
func (d *deadlines) at(now time.Duration) *deadline {
	if dl := d.cur.Load(); dl != nil && now >= dl.start && now < dl.end {
		return dl
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if dl := d.cur.Load(); dl != nil && now >= dl.start && now < dl.end {
		return dl
	}
	dl := &deadline{start: now, end: now + d.width}
	// The deadline counts from the clock read now, after every record of
	// the window was sealed or will be (now <= start+width), so it is no
	// earlier than any record's seal plus timeout; and a window opened
	// later has a later deadline (encoder.publish relies on it). No
	// goroutine: context.WithDeadline arms a runtime timer that frees
	// itself when it fires, so cancel is never needed.
	at := time.Now().Add(d.width + d.timeout)
	dl.ctx, dl.cancel = context.WithDeadline(context.Background(), at)
	dl.late, dl.cancelLate = context.WithDeadline(context.Background(), at.Add(deliveryGrace))
	d.cur.Store(dl)
	return dl
}

// timedOut reports whether err, a record's failure, is the delivery
// timeout: kgo's own (ErrRecordTimeout), the record's deadline (a
// context error: ordo never hands kgo a caller's ctx), or any failure
// reported once the record has been in kgo for the timeout (kgo fails a
// timed-out batch with the last error it saw, a refused connection say).
// A broker's answer that no retry changes (a non-retriable error code)
// is reported as itself, however late.
func (d *deadlines) timedOut(err error, sealed time.Duration) bool {
	if errors.Is(err, kgo.ErrRecordTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ke *kerr.Error
	if errors.As(err, &ke) && !ke.Retriable {
		return false
	}
	return monoNow()-sealed >= d.timeout
}

// newTimeoutError is the cause of a record failed by its delivery
// timeout: [ErrDeliveryTimeout], kgo.ErrRecordTimeout, and kgo's error
// unless it is the deadline's context error (a delivery timeout must not
// read as a caller's deadline).
func newTimeoutError(err error) *timeoutError {
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = kgo.ErrRecordTimeout
	}
	return &timeoutError{err}
}

// errGaveUp is the cause of a synchronous publish that stopped waiting
// for kgo's report at its deadline plus deliveryGrace.
var errGaveUp = newTimeoutError(errors.New("no report from the client by the deadline plus grace (the event may still be written)"))
