// Command producer is the fault suite's producer worker: an ordo producer
// written as a user would write it, publishing keyed [tick.Tick] events at
// a steady rate and journaling every acknowledged one (key, seq, partition,
// offset) from its delivery callback.
//
// It publishes for -duration, then shuts down gracefully (delivering what
// is buffered); SIGTERM or SIGINT ends the publishing early the same way.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ordo-go/ordo/internal/faults/journal"
	"github.com/ordo-go/ordo/internal/faults/tick"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

type config struct {
	brokers, registry, topic, journal string
	keys                              int
	rate                              float64
	duration                          time.Duration
	seed                              uint64
	fsync                             bool
}

func main() {
	var cfg config
	flag.StringVar(&cfg.brokers, "brokers", "", "comma-separated seed brokers")
	flag.StringVar(&cfg.registry, "registry", "", "schema registry URL")
	flag.StringVar(&cfg.topic, "topic", "", "topic to publish to")
	flag.StringVar(&cfg.journal, "journal", "", "journal file (appended to)")
	flag.IntVar(&cfg.keys, "keys", 64, "number of distinct keys")
	flag.Float64Var(&cfg.rate, "rate", 200, "events per second")
	flag.DurationVar(&cfg.duration, "duration", 20*time.Second, "how long to publish")
	flag.Uint64Var(&cfg.seed, "seed", 1, "seed of the key choice")
	flag.BoolVar(&cfg.fsync, "fsync", false, "fsync every journal line")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	if cfg.keys < 1 || cfg.rate <= 0 {
		return fmt.Errorf("-keys and -rate must be positive")
	}
	jw, err := journal.Create(cfg.journal, cfg.fsync)
	if err != nil {
		return err
	}
	defer jw.Close()
	reg, err := schema.NewRegistry([]string{cfg.registry})
	if err != nil {
		return err
	}
	codec, err := schema.NewCodec[tick.Tick](tick.Avsc)
	if err != nil {
		return err
	}
	p, err := producer.New(producer.Brokers(strings.Split(cfg.brokers, ",")...), producer.Registry(reg))
	if err != nil {
		return err
	}
	defer p.Close()
	pub, err := producer.NewPublisher(ctx, p, cfg.topic, codec)
	if err != nil {
		return err
	}
	if err := publish(ctx, cfg, pub, jw); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.Shutdown(sctx); err != nil {
		return err
	}
	if n := journalErrs.Load(); n > 0 {
		return fmt.Errorf("%d acknowledgements could not be journaled", n)
	}
	return nil
}

// journalErrs counts journal writes that failed in delivery callbacks.
var journalErrs atomic.Int64

// publish sends events at cfg.rate until cfg.duration has passed or ctx
// ends. Sequences count from 1 per key; a failed publish leaves its seq
// unused, so acknowledged seqs may have gaps but never repeat.
func publish(ctx context.Context, cfg config, pub *producer.Publisher[tick.Tick], jw *journal.Writer) error {
	rng := rand.New(rand.NewPCG(cfg.seed, 0x5eed))
	seqs := make([]int64, cfg.keys)
	pad := strings.Repeat("x", 64)
	interval := time.Duration(float64(time.Second) / cfg.rate)
	start := time.Now()
	for n := 0; ; n++ {
		next := start.Add(time.Duration(n) * interval)
		if next.Sub(start) >= cfg.duration {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(next)):
		}
		k := rng.IntN(cfg.keys)
		seqs[k]++
		ev := tick.Tick{Key: fmt.Sprintf("key-%03d", k), Seq: seqs[k], Pad: pad}
		err := pub.PublishAsync(ctx, ev, func(r producer.Result, err error) {
			e := journal.Event{Kind: journal.Acked, Key: ev.Key, Seq: ev.Seq,
				Partition: r.Partition, Offset: r.Offset, Time: time.Now().UnixNano()}
			if err != nil {
				e.Kind, e.Text = journal.Failed, err.Error()
			}
			if werr := jw.Write(e); werr != nil {
				journalErrs.Add(1)
			}
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	return nil
}
