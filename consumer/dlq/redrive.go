package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"golang.org/x/time/rate"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/internal/telemetry"
)

// DefaultMaxRedrives is the loop guard's default: a dead letter that was
// already redriven this many times and failed again is not redriven.
const DefaultMaxRedrives = 3

// RedriveConfig says what [Client.Redrive] republishes.
type RedriveConfig struct {
	// Topic is the dead-letter topic. Required.
	Topic string
	// Group is the consumer group that records the redrive's progress in
	// the dead-letter topic. Required. A run starts at the group's
	// committed offsets and commits what it has finished (republished and
	// acknowledged, or passed over), so an interrupted run resumes where
	// it stopped and a repeated run republishes nothing twice. A fresh
	// group starts at the beginning of the dead-letter topic: use one
	// group per redrive campaign, and a new one to redrive again records
	// an earlier campaign passed over.
	Group string
	// Filter selects chains (see the package doc): a chain is selected or
	// passed over as a whole, by the first of its records the run reads.
	Filter Filter
	// Rate caps republished records per second; 0 means no cap.
	Rate float64
	// DryRun reads and decides but writes and commits nothing; the report
	// says what a real run would do.
	DryRun bool
	// MaxRedrives is the loop guard (see [DefaultMaxRedrives], used when
	// 0). A negative value is an error.
	MaxRedrives int
	// IncludeUnreadable republishes dead letters whose reason says the
	// consumer could not read the record ([Reason.Unreadable]: unframe,
	// unknown-schema, unusable-schema, decode). Default false: they are
	// left, counted in RedriveReport.Unreadable, and their keys' chains
	// stay quarantined (RedriveReport.Stuck), because republished
	// unchanged they fail again and take their chains back with them. Set
	// it once their cause is fixed (the registry has the schema again, a
	// deploy reads the body).
	IncludeUnreadable bool
}

// RedriveReport counts what a redrive did with the dead letters it read.
// Scanned = Redriven + Filtered + Held + LoopGuarded + Malformed + TooLarge
// + Unreadable.
type RedriveReport struct {
	Scanned     int            // dead letters read
	Redriven    int            // republished (in a dry run: would be)
	Filtered    int            // in chains the filter did not select
	LoopGuarded int            // at the loop guard: redriven MaxRedrives times already
	Held        int            // behind a dead letter of their key that cannot be redriven, kept for order
	Malformed   int            // dead-letter headers did not parse; left alone
	TooLarge    int            // reason too-large: the dead letter lacks part of the record; left alone
	Unreadable  int            // the consumer could not read the record (Reason.Unreadable); left alone unless IncludeUnreadable
	Lifted      int            // chains whose last record carries the lift (planned, if the run stopped early)
	ByTopic     map[string]int // republished per original topic

	// StuckChains counts the keys whose chain the run left quarantined
	// because a dead letter of it cannot be redriven (malformed, too
	// large, unreadable, at the loop guard); Stuck names the first
	// MaxStuckReported.
	// Their quarantine stays until an operator deals with that dead
	// letter (see the package doc).
	StuckChains int
	Stuck       []Stuck
}

// MaxStuckReported bounds [RedriveReport.Stuck].
const MaxStuckReported = 100

// Stuck is a key's quarantine chain a redrive left in place: the dead
// letter that cannot be redriven, and why.
type Stuck struct {
	Topic     string // original topic; "" when the dead letter does not say
	Partition int32  // original partition; -1 when the dead letter does not say
	Offset    int64  // original offset; -1 when the dead letter does not say
	// DeadLetterPartition and DeadLetterOffset place the dead letter in
	// the dead-letter topic.
	DeadLetterPartition int32
	DeadLetterOffset    int64
	// Err says why: a *[HeaderError] (malformed), [ErrTooLarge],
	// [ErrUnreadable] or [ErrLoopGuard].
	Err error
}

// Redrive republishes dead letters of cfg.Topic to their original topics,
// in dead-letter order (which is each key's order), with their original
// key, value and headers, the dead-letter headers removed and ordo-redrives
// incremented; keyed records also carry the chain and, on a chain's last
// record, the lift that ends the key's quarantine (the package doc states
// the contract). Writes are idempotent with acks=all, in batches sized to
// each original topic's max.message.bytes (read before its first write),
// so a record the topic took once is taken again; progress is committed
// to cfg.Group only after the writes before it are acknowledged.
//
// Redrive reads the topic twice up to its end offsets at the start of the
// call: once to plan (which record is each chain's last), once to write.
// Records dead-lettered meanwhile wait for the next run. Cancelling ctx
// stops it; what was committed stays done. The report is filled as far as
// the run got, also on error.
func (c *Client) Redrive(ctx context.Context, cfg RedriveConfig) (RedriveReport, error) {
	if err := cfg.validate(); err != nil {
		return RedriveReport{}, err
	}
	limits := new(topicLimits)
	cl, err := c.kgoClient(limits.batch)
	if err != nil {
		return RedriveReport{}, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	spans, err := bounds(ctx, adm, cfg.Topic, cfg.Group)
	if err != nil {
		return RedriveReport{}, err
	}
	plan := newPlanner(cfg)
	err = scan(ctx, cl, cfg.Topic, spans, func(batch []*kgo.Record) error {
		for _, d := range batch {
			plan.decide(d)
		}
		return nil
	})
	plan.report.Lifted = plan.lifted()
	if err != nil || cfg.DryRun {
		c.logStuck(ctx, cfg, plan.report)
		return plan.report, telemetry.Unhint(err)
	}
	w := &rewriter{cfg: cfg, cl: cl, adm: adm, plan: plan, run: newPlanner(cfg), pace: newPace(cfg.Rate), limits: limits}
	err = scan(ctx, cl, cfg.Topic, spans, func(batch []*kgo.Record) error { return w.write(ctx, batch) })
	w.run.report.Lifted = plan.report.Lifted
	c.logStuck(ctx, cfg, w.run.report)
	return w.run.report, telemetry.Unhint(err)
}

// logStuck says, once per run, which chains stay quarantined and why.
func (c *Client) logStuck(ctx context.Context, cfg RedriveConfig, rep RedriveReport) {
	for _, s := range rep.Stuck {
		c.logger.WarnContext(ctx, "redrive left a key's chain quarantined: a dead letter of it cannot be redriven",
			"dead_letter_topic", cfg.Topic, "dead_letter_partition", s.DeadLetterPartition, "dead_letter_offset", s.DeadLetterOffset,
			"topic", s.Topic, "partition", s.Partition, "offset", s.Offset, "error", s.Err)
	}
	if n := rep.StuckChains - len(rep.Stuck); n > 0 {
		c.logger.WarnContext(ctx, "redrive left more chains quarantined", "dead_letter_topic", cfg.Topic, "more", n)
	}
}

func (cfg *RedriveConfig) validate() error {
	var errs []error
	if cfg.Topic == "" {
		errs = append(errs, errors.New("no dead-letter topic"))
	}
	if cfg.Group == "" {
		errs = append(errs, errors.New("no group to record progress in"))
	}
	if cfg.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate %v < 0", cfg.Rate))
	}
	if cfg.MaxRedrives < 0 {
		errs = append(errs, fmt.Errorf("max redrives %d < 0", cfg.MaxRedrives))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	if cfg.MaxRedrives == 0 {
		cfg.MaxRedrives = DefaultMaxRedrives
	}
	return nil
}

// rewriter is the second pass: it republishes what the plan decided and
// commits each batch once its writes are acknowledged.
type rewriter struct {
	cfg  RedriveConfig
	cl   *kgo.Client
	adm  *kadm.Client
	plan *planner      // the first pass, finished: each chain's last record
	run  *planner      // this pass's decisions, identical to the plan's
	pace *rate.Limiter // nil: no limit
	// limits sizes batches to each original topic (see topicLimits).
	limits *topicLimits
}

func (w *rewriter) write(ctx context.Context, batch []*kgo.Record) error {
	var (
		mu      sync.Mutex
		failed  error
		commits kadm.Offsets
	)
	for _, d := range batch {
		v, info, id := w.run.decide(d)
		commits.AddOffset(d.Topic, d.Partition, d.Offset+1, -1)
		if v != emit {
			continue
		}
		if err := waitPace(ctx, w.pace); err != nil {
			return err
		}
		out := w.restore(d, info, id)
		if err := w.limits.read(ctx, w.cl, out.Topic); err != nil {
			return err
		}
		w.cl.Produce(ctx, out, func(r *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				failed = errors.Join(failed, fmt.Errorf("dlq: republish %s[%d]@%d to %q: %w", d.Topic, d.Partition, d.Offset, r.Topic, err))
				mu.Unlock()
			}
		})
	}
	if err := w.cl.Flush(ctx); err != nil {
		return err
	}
	if failed != nil {
		return failed // nothing of this batch is committed: it is redriven again
	}
	err := retry(ctx, func() error {
		resp, err := w.adm.CommitOffsets(ctx, w.cfg.Group, commits)
		if err == nil {
			err = resp.Error()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("dlq: commit progress to group %q: %w", w.cfg.Group, err)
	}
	return nil
}

// restore builds the republished record for dead letter d, with the chain
// and lift headers when d has a key.
func (w *rewriter) restore(d *kgo.Record, info Info, id *chainID) *kgo.Record {
	out := Restore(d, info)
	if id == nil {
		return out
	}
	out.Headers = append(out.Headers, kgo.RecordHeader{Key: header.RedriveChain, Value: []byte(strconv.FormatInt(id.start, 10))})
	if st := w.plan.chains[*id]; !st.held && st.last == (pos{d.Partition, d.Offset}) {
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: header.RedriveLift, Value: []byte(strconv.FormatInt(info.Offset, 10))})
	}
	return out
}

// Restore returns the record that redrives dead letter d, whose headers
// parsed as info: addressed to the original topic, with d's key and value,
// d's headers less the dead-letter ones (kafka_dlt-*, __streams.errors.*,
// __connect.errors.*, __dlq.errors.*, ordo-reason,
// ordo-attempts, ordo-stage, ordo-quarantine-offset and any earlier
// redrive's chain and lift), and ordo-redrives set to info.Redrives+1.
// Partition and timestamp are left for the producer: the key places it,
// and the time is the redrive's, so a replay age window does not expire
// it. [Client.Redrive] adds the chain and lift headers.
func Restore(d *kgo.Record, info Info) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(d.Headers))
	for _, h := range d.Headers {
		if !isFailureHeader(h.Key) && h.Key != header.Redrives {
			hs = append(hs, h)
		}
	}
	hs = append(hs, kgo.RecordHeader{Key: header.Redrives, Value: []byte(strconv.Itoa(info.Redrives + 1))})
	return &kgo.Record{Topic: info.Topic, Key: d.Key, Value: d.Value, Headers: hs}
}
