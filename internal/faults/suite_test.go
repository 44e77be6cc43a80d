//go:build integration && faults

package faults

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/ordo-go/ordo/internal/faults/check"
	"github.com/ordo-go/ordo/internal/kafkatest"
)

// scenario is one fault schedule. inject runs while the producer
// publishes; it returns when its faults are done and every member is up.
type scenario struct {
	name    string
	members int
	inject  func(ctx context.Context, r *run)
	// maxUnexplained bounds the duplicates no killed or stopped
	// incarnation explains, as a function of the run's rate.
	maxUnexplained func(f form, faults int) int
	// wantFail marks a self-test: a deliberately broken consumer the
	// checker must fail.
	wantFail   bool
	memberArgs []string
	// deadLetters gives the run a dead-letter topic (see withDeadLetters).
	deadLetters bool
	// wantCatchUp: the members' graceful exits must report a catch-up.
	wantCatchUp bool
	// outage: the members' handler has a dependency the scenario takes
	// down (outage_test.go); the breaker must open and close, and nothing
	// be dead-lettered.
	outage bool
	// custom runs a scenario of its own workers and checker (the outbox
	// and inbox ones, on PostgreSQL) instead of producer, members, inject
	// and the tick checker.
	custom func(ctx context.Context, r *run) result
}

func noUnexplained(form, int) int { return 0 }

// brokerFaultSlack bounds the duplicates a broker fault may cause with no
// consumer killed: if a member loses its session while commits fail, its
// partitions are redelivered from the last commit that landed, so up to
// the records of one session timeout (6 s) plus two commit intervals, per
// fault.
func brokerFaultSlack(f form, faults int) int {
	return faults * int(f.rate*(6*time.Second+2*time.Second).Seconds())
}

// kip848 runs a consumer scenario's members with KIP-848's group protocol.
var kip848 = []string{"-protocol", "consumer"}

var scenarios = []scenario{
	{name: "consumer-sigkill", members: 1, maxUnexplained: noUnexplained, inject: killLoop(0)},
	// Under KIP-848 the member's SessionTimeout (6 s) is set as the group's
	// config, which the harness's brokers allow
	// (group.consumer.min.session.timeout.ms=6000).
	{name: "consumer-sigkill-kip848", members: 1, maxUnexplained: noUnexplained, memberArgs: kip848, inject: killLoop(0)},
	{name: "two-members-one-killed-kip848", members: 2, maxUnexplained: noUnexplained, memberArgs: kip848, inject: killLoop(1)},
	{name: "graceful-restart", members: 1, maxUnexplained: noUnexplained, inject: func(ctx context.Context, r *run) {
		for r.producing() {
			r.waitHandled(0, 1, time.Minute)
			time.Sleep(r.between(500*time.Millisecond, 3*time.Second))
			r.stop(ctx, 0)
			time.Sleep(r.between(0, time.Second))
			r.startMember(0)
		}
	}},
	{name: "two-members-one-killed", members: 2, maxUnexplained: noUnexplained, inject: killLoop(1)},
	{name: "leader-killed-and-stopped", members: 2, maxUnexplained: brokerFaultSlack, inject: func(ctx context.Context, r *run) {
		for p := int32(0); r.producing(); p += 2 {
			r.waitProgress(100, time.Minute)
			time.Sleep(r.between(2*time.Second, 4*time.Second))
			r.brokerDown(ctx, r.leaderOf(ctx, p%r.form.partitions), "leader-kill", r.cluster.Kill, r.between(2*time.Second, 5*time.Second))
			time.Sleep(r.between(time.Second, 3*time.Second))
			r.brokerDown(ctx, r.leaderOf(ctx, (p+1)%r.form.partitions), "leader-stop", r.cluster.Stop, r.between(2*time.Second, 5*time.Second))
		}
	}},
	{name: "coordinator-paused", members: 2, maxUnexplained: brokerFaultSlack, inject: func(ctx context.Context, r *run) {
		for r.producing() {
			r.waitProgress(100, time.Minute)
			time.Sleep(r.between(time.Second, 3*time.Second))
			// Longer than the broker session timeout (9 s): the controllers
			// fence the node and the group moves to another coordinator.
			r.pause(ctx, r.coordinatorOf(ctx), "coordinator-pause", r.between(10*time.Second, 14*time.Second))
		}
	}},
	// Poison records (about 1 in 100, by key and seq) are dead-lettered,
	// and their keys quarantined, while the dead-letter topic's only
	// partition loses its leader: killed, then stopped.
	{name: "dead-letter-leader-killed", members: 1, maxUnexplained: brokerFaultSlack, deadLetters: true,
		memberArgs: []string{"-poison", "100"}, inject: func(ctx context.Context, r *run) {
			for r.producing() {
				r.waitProgress(100, time.Minute)
				time.Sleep(r.between(time.Second, 3*time.Second))
				r.brokerDown(ctx, r.leaderOfTopic(ctx, r.dlt, 0), "dlt-leader-kill", r.cluster.Kill, r.between(2*time.Second, 5*time.Second))
				time.Sleep(r.between(time.Second, 3*time.Second))
				r.brokerDown(ctx, r.leaderOfTopic(ctx, r.dlt, 0), "dlt-leader-stop", r.cluster.Stop, r.between(2*time.Second, 5*time.Second))
			}
		}},
	// The member is stopped while a backlog builds, restarted with a rate
	// limit below the backlog's arrival, and during its catch-up a second
	// member joins (a rebalance) and is killed, then rejoins.
	{name: "rebalance-during-catch-up", members: 1, maxUnexplained: noUnexplained, wantCatchUp: true,
		memberArgs: []string{"-catch-up", "200", "-rate-limit", "400"}, inject: func(ctx context.Context, r *run) {
			r.waitHandled(0, 100, time.Minute)
			r.stop(ctx, 0)
			time.Sleep(r.between(6*time.Second, 8*time.Second))
			r.startMember(0, r.memberArgs...)
			r.waitHandled(0, 1, time.Minute)
			time.Sleep(r.between(500*time.Millisecond, 1500*time.Millisecond))
			r.startMember(1, r.memberArgs...)
			r.waitHandled(1, 1, time.Minute)
			time.Sleep(r.between(200*time.Millisecond, time.Second))
			r.kill(ctx, 1)
			time.Sleep(r.between(0, time.Second))
			r.startMember(1, r.memberArgs...)
		}},
	// The outbox on PostgreSQL: a writer commits order rows and their
	// events; two relays publish them, one SIGKILLed every 0.5-2.5 s. Each
	// mark is delayed by up to 50 ms (a slow database), so that kills land
	// between the broker's acknowledgement and the mark.
	{name: "outbox-relays-killed", custom: outboxRelaysKilled(2, "-slow-mark", "50ms")},
	// The inbox on PostgreSQL: two members write a side effect per event
	// through inbox.Handle and are SIGKILLed in turn (rebalances).
	{name: "inbox-members-killed", custom: inboxMembersKilled()},
	// Exactly-once consume -> publish: two transactional members emit two
	// outputs per input and are SIGKILLed in turn (rebalances, aborted
	// transactions, records handled again); about one input in 500 is
	// poison, dead-lettered with its key's later inputs (quarantine).
	{name: "pipeline-members-killed", custom: pipelineMembersKilled("-poison", "500")},
	// Self-tests of the two: a relay that marks rows before publishing
	// them must lose events; a consumer that writes its side effect
	// outside the mark's transaction must double effects.
	{name: "selftest-unsafe-relay", wantFail: true, custom: outboxRelaysKilled(2, "-unsafe")},
	// The consumer works up to 100 ms after writing the effect, so each
	// kill finds about 4 records between the effect and the mark.
	{name: "selftest-inbox-bypassed", wantFail: true, custom: inboxMembersKilled("-bypass", "-work", "100ms")},
	// A pipeline that publishes its outputs from the handler, outside any
	// transaction (at least once), must double outputs.
	{name: "selftest-pipeline-plain", wantFail: true, custom: pipelineMembersKilled("-plain")},
	// A self-test of the whole pipeline: a consumer that journals a record
	// seconds after its handler returned (so ordo commits records it never
	// durably handled) is SIGKILLed; the checker must report loss.
	{name: "selftest-unsafe-consumer", members: 1, wantFail: true, memberArgs: []string{"-unsafe"},
		maxUnexplained: noUnexplained, inject: killLoop(0)},
}

// killLoop SIGKILLs member i at random points while the producer
// publishes, each time once the incarnation has handled records, and
// starts a new incarnation after a random pause.
func killLoop(i int) func(ctx context.Context, r *run) { return killLoopN(i, -1) }

// killLoopN is killLoop with at most n kills (n < 0: no limit).
func killLoopN(i, n int) func(ctx context.Context, r *run) {
	return func(ctx context.Context, r *run) {
		for k := 0; r.producing() && k != n; k++ {
			r.waitHandled(i, 1, time.Minute)
			time.Sleep(r.between(200*time.Millisecond, 2500*time.Millisecond))
			r.kill(ctx, i)
			time.Sleep(r.between(0, time.Second))
			r.startMember(i, r.memberArgs...)
		}
	}
}

// TestFaults runs every scenario on one three-node cluster. The seed comes
// from ORDO_FAULTS_SEED, else the clock, and is logged for replay;
// ORDO_FAULTS_LONG=1 runs the long form.
func TestFaults(t *testing.T) {
	f := shortForm
	if os.Getenv("ORDO_FAULTS_LONG") == "1" {
		f = longForm
	}
	ctx := kafkatest.Bound(t, f.bound)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("ORDO_FAULTS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("ORDO_FAULTS_SEED=%q: %v", s, err)
		}
	}
	t.Logf("faults: %s form, seed %d (replay: ORDO_FAULTS_SEED=%d)", f.name, seed, seed)
	start := time.Now()
	b := buildWorkers(t)
	t.Logf("faults: workers built in %v", time.Since(start).Round(time.Millisecond))
	cluster := kafkatest.StartCluster(ctx, t, 3)
	reg := kafkatest.RegistryURL(t)
	pg := &lazyPG{t: t}
	var rows []row
	for _, sc := range scenarios {
		ok := t.Run(sc.name, func(tt *testing.T) {
			t := tb{tt}
			t0 := time.Now()
			r := newRun(ctx, t.T, cluster, b, f, seed, reg)
			r.pg = pg
			if sc.custom != nil {
				res := sc.custom(ctx, r)
				rows = append(rows, row{name: sc.name, res: res, wantFail: sc.wantFail, took: time.Since(t0)})
				switch {
				case sc.wantFail && res.lost+res.unexplained == 0:
					t.Errorf("self-test: the checker found nothing lost or doubled by a deliberately broken worker (replay: ORDO_FAULTS_SEED=%d)", seed)
				case !sc.wantFail && res.verdict != nil:
					t.Errorf("%v (replay: ORDO_FAULTS_SEED=%d)", res.verdict, seed)
				}
				return
			}
			r.memberArgs = slices.Clone(sc.memberArgs)
			if sc.deadLetters {
				r.withDeadLetters(ctx)
			}
			if sc.outage {
				r.memberArgs = append(r.memberArgs, "-down-file", r.downFile())
			}
			r.startProducer()
			for i := range sc.members {
				r.startMember(i, r.memberArgs...)
			}
			sc.inject(ctx, r)
			rep := r.finish(ctx)
			limit := sc.maxUnexplained(f, len(rep.Recoveries))
			verdict := rep.Verdict(limit)
			var open time.Duration
			if sc.outage {
				var opens int
				if open, opens = r.breakerOpenFor(); opens == 0 || open == 0 || rep.DeadLettered != 0 {
					t.Errorf("outage: the breaker opened %d times for %v, %d records dead-lettered; want it open and none (replay: ORDO_FAULTS_SEED=%d)",
						opens, open, rep.DeadLettered, seed)
				}
			}
			rows = append(rows, row{name: sc.name, res: resultOf(rep, verdict), wantFail: sc.wantFail, took: time.Since(t0), breaker: open})
			logReport(t.T, rep, limit)
			switch {
			case sc.wantFail && len(rep.Lost) == 0:
				t.Errorf("self-test: the checker found no loss by a deliberately broken consumer")
			case !sc.wantFail && verdict != nil:
				t.Errorf("%v (replay: ORDO_FAULTS_SEED=%d)", verdict, seed)
			case sc.wantCatchUp && rep.CatchUps == 0:
				t.Errorf("no member reported a catch-up (replay: ORDO_FAULTS_SEED=%d)", seed)
			case sc.deadLetters && !sc.outage && rep.DeadLettered == 0:
				t.Errorf("nothing was dead-lettered (replay: ORDO_FAULTS_SEED=%d)", seed)
			}
		})
		if !ok {
			// A failure outside the verdict (a worker's error, a fatal
			// setup step) fails the scenario too; the table says so.
			if i := slices.IndexFunc(rows, func(r row) bool { return r.name == sc.name }); i >= 0 {
				rows[i].failed = true
			} else {
				rows = append(rows, row{name: sc.name, failed: true})
			}
		}
	}
	t.Logf("faults: %s form, seed %d, total %v\n%s%s", f.name, seed, time.Since(start).Round(time.Second), table(rows), failureList())
}

type row struct {
	name     string
	res      result
	wantFail bool
	took     time.Duration
	breaker  time.Duration // the breaker's open time (outage scenarios)
	failed   bool          // the scenario's test failed, for whatever reason
}

// result is a scenario's line of the table. The outbox and inbox
// scenarios fill the columns with their own counts: acked is the events
// committed (outbox) or acknowledged (inbox); unhandled the records never
// committed or mismatched (outbox), the stray side effects (inbox);
// duplicates (unexplained) the copies on the topic (those no killed relay
// explains), or the duplicates the inbox skipped (the events with more
// than one side effect).
type result struct {
	acked, lost, unhandled, dups, unexplained, order, dead int
	catchUps                                               int64
	faults                                                 int
	recovery                                               time.Duration
	verdict                                                error
}

func resultOf(rep *check.Report, verdict error) result {
	return result{acked: rep.Acked, lost: len(rep.Lost), unhandled: len(rep.Unhandled), dups: rep.Duplicates,
		unexplained: rep.Unexplained, order: rep.ViolationCount() + len(rep.Written), dead: rep.DeadLettered,
		catchUps: rep.CatchUps, faults: len(rep.Recoveries), recovery: rep.MaxRecovery(), verdict: verdict}
}

func table(rows []row) string {
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tacked\tlost\tunhandled\tduplicates (unexplained)\torder violations\tdead-lettered\tcatch-ups\tfaults\trecovery max\tbreaker open\tverdict\ttook")
	for _, r := range rows {
		v := "pass"
		switch {
		case r.wantFail && r.res.verdict != nil:
			v = "fail as expected"
		case r.wantFail:
			v = "FAIL (broken consumer passed)"
		case r.res.verdict != nil:
			v = "FAIL"
		case r.failed && !r.wantFail:
			v = "FAIL (see below)"
		}
		brk := "-"
		if r.breaker > 0 {
			brk = r.breaker.Round(time.Second).String()
		}
		x := r.res
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d (%d)\t%d\t%d\t%d\t%d\t%v\t%s\t%s\t%v\n", r.name, x.acked, x.lost,
			x.unhandled, x.dups, x.unexplained, x.order, x.dead, x.catchUps, x.faults, x.recovery.Round(time.Millisecond), brk, v, r.took.Round(time.Second))
	}
	tw.Flush()
	return sb.String()
}

func logReport(t *testing.T, r *check.Report, limit int) {
	t.Helper()
	var sb strings.Builder
	fmt.Fprintf(&sb, "acked %d (publish failed %d), in topic %d, handled %d (%d handlings, %d record errors), lost %d, unhandled %d, mismatched %d\n",
		r.Acked, r.PublishFailed, r.InLog, r.Handled, r.Handlings, r.RecordErrors, len(r.Lost), len(r.Unhandled), len(r.Mismatched))
	fmt.Fprintf(&sb, "written out of order or twice (producer side): %d\n", len(r.Written))
	fmt.Fprintf(&sb, "dead-lettered %d (pending %d, written twice %d); catch-ups %d, accountings not adding up %d\n",
		r.DeadLettered, r.DeadPending, r.DeadDuplicates, r.CatchUps, len(r.Replay))
	for _, p := range r.Replay {
		fmt.Fprintf(&sb, "  replay: %s\n", p)
	}
	fmt.Fprintf(&sb, "duplicates %d: %d explained by a fault above the commit point, %d unexplained (bound %d)\n",
		r.Duplicates, r.Explained, r.Unexplained, limit)
	for _, k := range check.Kinds {
		fmt.Fprintf(&sb, "order violations %s: %d\n", k, len(r.Violations[k]))
		for i, v := range r.Violations[k] {
			if i == 5 {
				fmt.Fprintf(&sb, "  ...\n")
				break
			}
			fmt.Fprintf(&sb, "  %s\n", v)
		}
	}
	for i, l := range r.Lost {
		if i == 5 {
			fmt.Fprintf(&sb, "  ...\n")
			break
		}
		fmt.Fprintf(&sb, "  lost: %s\n", l)
	}
	for _, rc := range r.Recoveries {
		fmt.Fprintf(&sb, "recovery after %s %s: first handled %v, backlog done %v\n", rc.Fault, rc.Target,
			rc.FirstHandled.Round(time.Millisecond), rc.CaughtUp.Round(time.Millisecond))
	}
	t.Log(sb.String())
}
