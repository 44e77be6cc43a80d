package consumer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// probeEvery is how often an unreached cluster is probed, and probeTimeout
// how long one probe may take; warnEvery spaces the repeated warnings.
const (
	probeEvery   = time.Second
	probeTimeout = 5 * time.Second
	warnEvery    = 30 * time.Second
)

// connectWatch probes the cluster until it first answers (watchConnect,
// a goroutine of Run counted in Consumer.lanes, stopped when the
// scheduler's ending is done or a broker answered); it stops the consumer
// through the scheduler (haltLocked) when the cluster stays unreachable
// or refuses it. It holds no state beyond its loop's locals.
type connectWatch struct {
	cl      *kgo.Client
	sched   *scheduler
	log     *slog.Logger
	brokers []string
	after   time.Duration // UnreachableAfter
	session groupSession  // set once a broker answers (groupsession.go)
}

// watchConnect makes a cluster the consumer cannot reach or authenticate
// with visible. kgo retries for ever and, without this, a consumer with a
// wrong address, a wrong SASL password or a TLS mismatch logs nothing and
// Run never returns. Until some broker first answers a request, it probes
// the cluster (a broker-only metadata request, through the same dialer,
// TLS and SASL as the consumer): the first failure is logged at once (and
// every warnEvery after), and if no broker has answered after
// UnreachableAfter, Run stops with an error matching [ErrUnreachable] that
// wraps the last failure; a cluster that refuses the consumer (credentials,
// certificates) three probes in a row stops it at once, with [ErrRefused]. Once a broker has answered, it stops probing:
// losing the cluster later is an outage that kgo rides out (its own
// warnings reach the logger), not a configuration error. Then, under
// KIP-848, it sets the group's session timeout (groupSession.apply), and
// only then does the member join the group (groupSession.join).
func (w *connectWatch) watchConnect() {
	start := time.Now()
	var warned time.Time
	refused := 0 // consecutive probes refused
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-w.sched.ending.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(w.sched.ending, probeTimeout)
		err := w.cl.Ping(ctx)
		cancel()
		if w.sched.ending.Err() != nil {
			return
		}
		if err == nil {
			if !warned.IsZero() {
				w.log.Info("cluster reachable", "after", time.Since(start).Round(time.Millisecond))
			}
			w.session.apply(w.sched.ending)
			w.session.join()
			return
		}
		down := time.Since(start)
		if refusal(err) {
			refused++
		} else {
			refused = 0
		}
		if refused >= refusalsToStop {
			w.sched.halt(fmt.Errorf("%w: %w: %d probes refused in %v: %w", ErrUnreachable, ErrRefused,
				refused, down.Round(time.Millisecond), err))
			return
		}
		if down >= w.after {
			w.sched.halt(fmt.Errorf("%w: no broker answered for %v: %w", ErrUnreachable, down.Round(time.Millisecond), err))
			return
		}
		if warned.IsZero() || time.Since(warned) >= warnEvery {
			warned = time.Now()
			w.log.Warn("cannot reach the cluster", "brokers", w.brokers, "for", down.Round(time.Millisecond),
				"giving_up_in", (w.after - down).Round(time.Second), "error", err)
		}
		t.Reset(probeEvery)
	}
}

// refusalsToStop is how many probes in a row must be refused before Run
// gives up: one refusal can be a broker restarting with new credentials.
const refusalsToStop = 3

// refusal reports whether err is the cluster refusing the consumer's
// configuration (credentials, certificates) rather than not answering.
func refusal(err error) bool {
	if errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.UnsupportedSaslMechanism) ||
		errors.Is(err, kerr.IllegalSaslState) || errors.Is(err, kerr.ClusterAuthorizationFailed) {
		return true
	}
	var (
		unknownCA x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
		alert     tls.AlertError
		verify    *tls.CertificateVerificationError
	)
	return errors.As(err, &unknownCA) || errors.As(err, &invalid) || errors.As(err, &hostname) ||
		errors.As(err, &alert) || errors.As(err, &verify)
}
