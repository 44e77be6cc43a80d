package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ordo-go/ordo/consumer/dlq"
	"github.com/ordo-go/ordo/schema"
)

func run(ctx context.Context, cfg config, out io.Writer) error {
	if cfg.demo {
		stop, err := startDemo(ctx, &cfg, out)
		if err != nil {
			return err
		}
		defer stop()
	}
	opts := []dlq.Option{dlq.Brokers(cfg.brokers...), dlq.WithLogger(slog.New(slog.DiscardHandler))}
	if cfg.registry != "" {
		reg, err := schema.NewRegistry([]string{cfg.registry})
		if err != nil {
			return err
		}
		opts = append(opts, dlq.Registry(reg))
	}
	c, err := dlq.New(opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	switch cfg.command {
	case "list":
		return list(ctx, c, cfg, out)
	case "show":
		return show(ctx, c, cfg, out)
	}
	return redrive(ctx, c, cfg, out)
}

func list(ctx context.Context, c *dlq.Client, cfg config, out io.Writer) error {
	s, err := c.List(ctx, cfg.topic)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ORIGINAL TOPIC\tREASON\tTYPE\tRECORDS\tOLDEST\tNEWEST")
	for _, g := range s.Groups {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", g.Topic, reasonOf(g), orDash(g.Type), g.Records,
			g.Oldest.UTC().Format(time.RFC3339), g.Newest.UTC().Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d dead letters in %s", s.Total, cfg.topic)
	if s.Malformed > 0 {
		fmt.Fprintf(out, ", %d with malformed dead-letter headers", s.Malformed)
	}
	fmt.Fprintln(out)
	return nil
}

// reasonOf is list's REASON: ordo's reason, or for another tool's dead
// letters (which give none) the tool in parentheses.
func reasonOf(g dlq.Count) string {
	if g.Reason == "" && g.Family != dlq.FamilySpring {
		return "(" + string(g.Family) + ")"
	}
	return orDash(string(g.Reason))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shown is show's JSON line for one record.
type shown struct {
	Partition  int32           `json:"partition"`
	Offset     int64           `json:"offset"`
	Time       time.Time       `json:"time"`
	Key        string          `json:"key"`
	Original   *original       `json:"original,omitempty"`
	ParseError string          `json:"parse_error,omitempty"`
	Headers    [][2]string     `json:"headers"`
	Value      json.RawMessage `json:"value,omitempty"`
	Raw        []byte          `json:"raw,omitempty"`
	ValueError string          `json:"value_error,omitempty"`
}

type original struct {
	Family           string    `json:"family"` // who wrote the dead letter: spring (ordo, Spring Kafka), streams, connect, share-group
	Topic            string    `json:"topic"`
	Partition        int32     `json:"partition"`
	Offset           int64     `json:"offset"`
	Timestamp        time.Time `json:"timestamp"`
	Group            string    `json:"group,omitempty"`
	Reason           string    `json:"reason,omitempty"`
	Stage            string    `json:"stage,omitempty"`
	Attempts         int       `json:"attempts"`
	Redrives         int       `json:"redrives"`
	QuarantineOffset *int64    `json:"quarantine_offset,omitempty"`
	Error            string    `json:"error,omitempty"`
	ErrorType        string    `json:"error_type,omitempty"`
}

func show(ctx context.Context, c *dlq.Client, cfg config, out io.Writer) error {
	entries, err := c.Show(ctx, cfg.topic, cfg.filter, cfg.limit)
	if err != nil {
		return err
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Time.Before(entries[j].Time) })
	if cfg.format == "text" {
		for _, e := range entries {
			writeText(out, cfg.topic, e)
		}
		fmt.Fprintf(out, "%d dead letters shown\n", len(entries))
		return nil
	}
	enc := json.NewEncoder(out)
	for _, e := range entries {
		s := shown{Partition: e.Partition, Offset: e.Offset, Time: e.Time.UTC(), Key: string(e.Key), ParseError: e.ParseError,
			Value: e.Value, ValueError: e.ValueError}
		if e.Value == nil {
			s.Raw = e.Raw
		}
		if e.ParseError == "" {
			s.Original = originalOf(e.Info)
		}
		for _, h := range e.Headers {
			s.Headers = append(s.Headers, [2]string{h.Key, printable(h.Value)})
		}
		if err := enc.Encode(s); err != nil {
			return err
		}
	}
	return nil
}

func originalOf(i dlq.Info) *original {
	o := &original{Family: string(i.Family), Topic: i.Topic, Partition: i.Partition, Offset: i.Offset, Timestamp: i.Timestamp.UTC(), Group: i.Group,
		Reason: string(i.Reason), Stage: string(i.Stage), Attempts: i.Attempts, Redrives: i.Redrives, Error: i.Message, ErrorType: i.FQCN}
	if i.QuarantineOffset >= 0 {
		q := i.QuarantineOffset
		o.QuarantineOffset = &q
	}
	return o
}

// printable shows a header value as text when it is printable UTF-8, else
// as hex (Spring's binary integers).
func printable(v []byte) string {
	if utf8.Valid(v) {
		ok := true
		for _, r := range string(v) {
			if !unicode.IsPrint(r) {
				ok = false
				break
			}
		}
		if ok {
			return string(v)
		}
	}
	return fmt.Sprintf("0x%x", v)
}

func redrive(ctx context.Context, c *dlq.Client, cfg config, out io.Writer) error {
	rep, err := c.Redrive(ctx, dlq.RedriveConfig{
		Topic: cfg.topic, Group: cfg.group, Filter: cfg.filter,
		Rate: cfg.rate, DryRun: cfg.dryRun, MaxRedrives: cfg.maxRedrives, IncludeUnreadable: cfg.unreadable,
	})
	verb := "redrove"
	if cfg.dryRun {
		verb = "would redrive"
	}
	fmt.Fprintf(out, "read %d dead letters from %s (group %s): %s %d, lifting %d quarantine chains; filtered out %d, unreadable %d, loop guard %d, malformed %d, too large %d, held behind those %d\n",
		rep.Scanned, cfg.topic, cfg.group, verb, rep.Redriven, rep.Lifted, rep.Filtered, rep.Unreadable, rep.LoopGuarded, rep.Malformed, rep.TooLarge, rep.Held)
	if rep.Unreadable > 0 {
		fmt.Fprintf(out, "left %d their consumer could not read (republished unchanged they fail again): fix the cause, then pass -include-unreadable\n", rep.Unreadable)
	}
	if rep.StuckChains > 0 {
		fmt.Fprintf(out, "%d keys stay quarantined: a dead letter of theirs cannot be redriven\n", rep.StuckChains)
		for _, s := range rep.Stuck {
			fmt.Fprintf(out, "  %s[%d]@%d (dead letter %s[%d]@%d): %v\n", orDash(s.Topic), s.Partition, s.Offset,
				cfg.topic, s.DeadLetterPartition, s.DeadLetterOffset, s.Err)
		}
	}
	topics := make([]string, 0, len(rep.ByTopic))
	for t := range rep.ByTopic {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		fmt.Fprintf(out, "  %s: %d\n", t, rep.ByTopic[t])
	}
	return err
}
