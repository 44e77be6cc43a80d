//go:build integration && faults

package faults

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/faults/check"
	"github.com/ordo-go/ordo/internal/faults/journal"
	"github.com/ordo-go/ordo/internal/faults/tick"
	"github.com/ordo-go/ordo/internal/pgtest"
	"github.com/ordo-go/ordo/schema"
)

// lazyPG is the suite's PostgreSQL server, started (through pgtest, or
// the one ORDO_TEST_POSTGRES names) by the first scenario that needs it
// and stopped when the suite ends.
type lazyPG struct {
	t    *testing.T // the suite's, for the cleanup
	once sync.Once
	srv  *pgtest.Server
	err  error
}

func (l *lazyPG) url(t tb) string {
	l.once.Do(func() {
		start := time.Now()
		if l.srv, l.err = pgtest.Start(); l.err == nil {
			l.t.Cleanup(func() {
				if err := l.srv.Stop(); err != nil {
					l.t.Errorf("stop PostgreSQL: %v", err)
				}
			})
			t.Logf("faults: PostgreSQL up in %v", time.Since(start).Round(time.Millisecond))
		}
	})
	if l.err != nil {
		t.Fatalf("PostgreSQL: %v", l.err)
	}
	return l.srv.URL
}

// database creates a database of the run's own on the suite's server and
// returns its URL.
func (r *run) database(ctx context.Context) string {
	base := r.pg.url(r.t)
	name := strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			return c
		}
		return '_'
	}, strings.ToLower(r.topic))
	name = name[:min(len(name), 63)]
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		r.t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		r.t.Fatalf("create database %s: %v", name, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		r.t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// query runs a query on the run's database.
func (r *run) query(ctx context.Context, db, sql string, scan func(pgx.Rows) error) {
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		r.t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		r.t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			r.t.Fatalf("%s: %v", sql, err)
		}
	}
	if err := rows.Err(); err != nil {
		r.t.Fatalf("%s: %v", sql, err)
	}
}

// readSent reads the run's topic back with each record's ordo-id and
// ordo-producer headers.
func (r *run) readSent(ctx context.Context) []check.Sent {
	codec, err := schema.NewCodec[tick.Tick](tick.Avsc)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []check.Sent
	r.readAll(ctx, r.topic, func(rec *kgo.Record) {
		var ev tick.Tick
		if _, body, err := schema.Unframe(rec.Value); err != nil {
			r.t.Errorf("p%d@%d: %v", rec.Partition, rec.Offset, err)
		} else if err := codec.Decode(body, &ev); err != nil {
			r.t.Errorf("p%d@%d: %v", rec.Partition, rec.Offset, err)
		}
		s := check.Sent{Partition: rec.Partition, Offset: rec.Offset, Key: string(rec.Key), Seq: ev.Seq}
		for _, h := range rec.Headers {
			switch h.Key {
			case "ordo-id":
				s.EventID = string(h.Value)
			case "ordo-producer":
				s.Producer = string(h.Value)
			}
		}
		out = append(out, s)
	})
	return out
}

// outboxTable is the outbox table of the outbox scenarios.
const outboxTable = "faults_outbox"

// outboxRelaysKilled runs an outbox writer (cmd/outboxwriter) committing
// events for the form's duration, and relays (cmd/relay) publishing
// them, one of which is SIGKILLed at a random point every 0.5-2.5 s and
// restarted after 0-1 s. At the end the table must drain; then the
// relays are stopped gracefully and the topic checked (check.Outbox).
func outboxRelaysKilled(relays int, relayArgs ...string) func(ctx context.Context, r *run) result {
	return func(ctx context.Context, r *run) result {
		db := r.database(ctx)
		r.producer = startProc(r.t, "writer", filepath.Join(r.dir, "writer.log"), r.bins.outboxwriter,
			"-brokers", r.brokers(), "-registry", r.reg, "-topic", r.topic, "-postgres", db, "-table", outboxTable,
			"-journal", filepath.Join(r.dir, "writer.jsonl"), "-keys", fmt.Sprint(r.form.keys),
			"-rate", fmt.Sprint(r.form.rate), "-duration", r.form.produceFor.String(), "-seed", fmt.Sprint(r.rng.Uint64()))
		slots := make([]*proc, relays)
		incs := make([]int, relays)
		start := func(i int) {
			incs[i]++
			inc := fmt.Sprintf("r%d.%d", i, incs[i])
			args := []string{"-brokers", r.brokers(), "-registry", r.reg, "-postgres", db, "-table", outboxTable,
				"-journal", filepath.Join(r.dir, "relay.jsonl"), "-inc", inc}
			slots[i] = startProc(r.t, inc, filepath.Join(r.dir, "relay.log"), r.bins.relay, append(args, relayArgs...)...)
		}
		for i := range slots {
			start(i)
		}
		kills := 0
		for r.producing() {
			time.Sleep(r.between(500*time.Millisecond, 2500*time.Millisecond))
			i := r.rng.IntN(relays)
			at := time.Now()
			if err := slots[i].signal(syscall.SIGKILL, time.Minute); err != nil {
				r.t.Fatalf("%v; relay log:\n%s", err, r.tail("relay.log"))
			}
			r.journalFault(journal.Event{Kind: journal.Fault, Fault: "kill", Target: slots[i].name, Time: at.UnixNano()})
			kills++
			time.Sleep(r.between(0, time.Second))
			start(i)
		}
		if r.producer.err != nil {
			r.t.Errorf("writer: %v\n%s", r.producer.err, r.tail("writer.log"))
		}
		r.waitDrained(ctx, db)
		for _, p := range slots {
			r.waitStarted("relay.jsonl", p.name)
			if err := p.signal(syscall.SIGTERM, time.Minute); err != nil {
				r.t.Errorf("%v (exit: %v); relay log:\n%s", err, p.exit(), r.tail("relay.log"))
			} else if p.err != nil {
				r.t.Errorf("%s exited: %v; relay log:\n%s", p.name, p.err, r.tail("relay.log"))
			}
		}
		evs, err := journal.Read(filepath.Join(r.dir, "writer.jsonl"), filepath.Join(r.dir, "faults.jsonl"))
		if err != nil {
			r.t.Fatal(err)
		}
		rep := check.Outbox(evs, r.readSent(ctx))
		r.t.Logf("committed %d, in topic %d, published %d, lost %d, never committed %d, mismatched %d, out of order %d\n"+
			"duplicates %d: %d explained by a killed relay, %d unexplained; relay kills %d%s",
			rep.Committed, rep.InLog, rep.Published, len(rep.Lost), len(rep.Phantom), len(rep.Mismatched), len(rep.Order),
			rep.Duplicates, rep.Explained, len(rep.Unexplained), kills, firsts(rep.Lost, rep.Phantom, rep.Mismatched, rep.Order, rep.Unexplained))
		return result{acked: rep.Committed, lost: len(rep.Lost), unhandled: len(rep.Phantom) + len(rep.Mismatched),
			dups: rep.Duplicates, unexplained: len(rep.Unexplained), order: len(rep.Order), faults: kills, verdict: rep.Verdict()}
	}
}

// waitStarted waits up to a minute for incarnation inc to journal its
// start in the journal name, which it does once its signal handler is in
// place: a SIGTERM sooner would end it without its graceful stop.
func (r *run) waitStarted(name, inc string) {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		evs, err := journal.Read(filepath.Join(r.dir, name))
		if err != nil {
			r.t.Fatal(err)
		}
		for _, e := range evs {
			if e.Kind == journal.Start && e.Inc == inc {
				return
			}
		}
	}
	r.t.Errorf("%s journaled no start in a minute", inc)
}

// outboxDrainWithin bounds the wait for the relays to empty the outbox
// after the writer is done, on a busy machine.
const outboxDrainWithin = 3 * time.Minute

func (r *run) waitDrained(ctx context.Context, db string) {
	deadline := time.Now().Add(outboxDrainWithin)
	for {
		var n int64
		r.query(ctx, db, "SELECT count(*) FROM "+outboxTable, func(rows pgx.Rows) error { return rows.Scan(&n) })
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("outbox still holds %d rows %v after the writer finished; relay log:\n%s", n, outboxDrainWithin, r.tail("relay.log"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// inboxMembersKilled runs two inbox consumers (cmd/inboxconsumer) on the
// tick producer's topic, killing them in turn (SIGKILL once the
// incarnation has handled a record, after 0.2-2.5 s more; restarted after
// 0-1 s), so the group rebalances and records are redelivered. At the
// end every record must have exactly one side effect (check.Inbox).
func inboxMembersKilled(memberArgs ...string) func(ctx context.Context, r *run) result {
	return func(ctx context.Context, r *run) result {
		return r.inboxMembersKilled(ctx, memberArgs)
	}
}

func (r *run) inboxMembersKilled(ctx context.Context, memberArgs []string) result {
	db := r.database(ctx)
	r.memberBin = r.bins.inboxconsumer
	r.memberArgs = append([]string{"-postgres", db}, memberArgs...)
	r.startProducer()
	r.startMember(0, r.memberArgs...)
	// Once the first has created the tables: PostgreSQL's CREATE TABLE IF
	// NOT EXISTS is not safe against itself run concurrently.
	r.waitHandled(0, 1, time.Minute)
	r.startMember(1, r.memberArgs...)
	kills := 0
	for ; r.producing(); kills++ {
		i := kills % 2
		r.waitHandled(i, 1, time.Minute)
		time.Sleep(r.between(200*time.Millisecond, 2500*time.Millisecond))
		r.kill(ctx, i)
		time.Sleep(r.between(0, time.Second))
		r.startMember(i, r.memberArgs...)
	}
	r.settle(ctx)
	var effects []check.Effect
	r.query(ctx, db, "SELECT id, event_id, partition, off, key, seq FROM effects", func(rows pgx.Rows) error {
		var e check.Effect
		err := rows.Scan(&e.ID, &e.EventID, &e.Partition, &e.Offset, &e.Key, &e.Seq)
		effects = append(effects, e)
		return err
	})
	evs, err := journal.Read(filepath.Join(r.dir, "producer.jsonl"), filepath.Join(r.dir, "consumer.jsonl"))
	if err != nil {
		r.t.Fatal(err)
	}
	rep := check.Inbox(evs, r.readSent(ctx), effects)
	r.t.Logf("acked %d, in topic %d, side effects %d, duplicates skipped by the inbox %d, lost %d, doubled %d, stray %d, out of order %d; kills %d%s",
		rep.Acked, rep.InLog, rep.Effects, rep.Skipped, len(rep.Lost), len(rep.Doubled), len(rep.Stray), len(rep.Order),
		kills, firsts(rep.Lost, rep.Doubled, rep.Stray, rep.Order))
	v := rep.Verdict()
	if v == nil && rep.Skipped == 0 {
		// Kills above the commit point redeliver records: with none
		// skipped, the run did not test the inbox.
		v = fmt.Errorf("no duplicate was skipped: the kills redelivered nothing")
	}
	return result{acked: rep.Acked, lost: len(rep.Lost), unhandled: len(rep.Stray), dups: rep.Skipped,
		unexplained: len(rep.Doubled), order: len(rep.Order), faults: kills, verdict: v}
}

// firsts formats the first few items of each problem list.
func firsts(lists ...[]string) string {
	var sb strings.Builder
	for _, l := range lists {
		for i, s := range l {
			if i == 5 {
				sb.WriteString("\n  ...")
				break
			}
			sb.WriteString("\n  " + s)
		}
	}
	return sb.String()
}
