package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ordo-go/ordo/consumer/dlq"
)

// writeText writes e as a block for a person: where the dead letter is,
// where the record came from, why it failed, its headers, and its value.
// Blocks are separated by a blank line.
//
//	orders.dlt[1]@0  dead-lettered 2026-11-30T10:00:00Z  key "order-1"
//	  from     orders[2]@10  (written 2026-11-30T09:59:58Z, group fulfilment)
//	  reason   permanent at handle, 1 attempt
//	  error    *errors.errorString: payment refused: card expired
//	  headers  ordo-type: com.example.orders.OrderPaid
//	           kafka_dlt-original-topic: orders
//	  value    {"amount_cents":1250,"order_id":"order-1"}
func writeText(w io.Writer, dlt string, e dlq.Entry) {
	fmt.Fprintf(w, "%s[%d]@%d  dead-lettered %s  key %s\n", dlt, e.Partition, e.Offset, stamp(e.Time), keyText(e.Key))
	if e.ParseError != "" {
		fmt.Fprintf(w, "  %-8s %s\n", "headers?", e.ParseError)
	} else {
		writeFailure(w, e.Info)
	}
	for i, h := range e.Headers {
		label := ""
		if i == 0 {
			label = "headers"
		}
		fmt.Fprintf(w, "  %-8s %s: %s\n", label, h.Key, headerText(h.Key, h.Value))
	}
	switch {
	case e.Value != nil:
		fmt.Fprintf(w, "  %-8s %s\n", "value", e.Value)
	case e.Raw == nil:
		fmt.Fprintf(w, "  %-8s null\n", "value")
	default:
		fmt.Fprintf(w, "  %-8s %d bytes, not decoded (%s): %s\n", "value", len(e.Raw), e.ValueError, clip(printable(e.Raw), 200))
	}
	fmt.Fprintln(w)
}

// writeFailure writes what the dead-letter headers say: the original
// record's place, the reason and the error.
func writeFailure(w io.Writer, i dlq.Info) {
	from := fmt.Sprintf("%s[%d]@%d", i.Topic, i.Partition, i.Offset)
	var about []string
	if !i.Timestamp.IsZero() {
		about = append(about, "written "+stamp(i.Timestamp))
	}
	if i.Group != "" {
		about = append(about, "group "+i.Group)
	}
	if i.Family != dlq.FamilySpring {
		about = append(about, "dead-lettered by "+string(i.Family))
	}
	if len(about) > 0 {
		from += "  (" + strings.Join(about, ", ") + ")"
	}
	fmt.Fprintf(w, "  %-8s %s\n", "from", from)
	if r := reasonText(i); r != "" {
		fmt.Fprintf(w, "  %-8s %s\n", "reason", r)
	}
	if i.FQCN != "" || i.Message != "" {
		msg := i.Message
		if i.FQCN != "" {
			msg = strings.TrimSuffix(i.FQCN+": "+msg, ": ")
		}
		fmt.Fprintf(w, "  %-8s %s\n", "error", msg)
	}
}

func reasonText(i dlq.Info) string {
	if i.Reason == "" {
		if i.Attempts > 0 {
			return fmt.Sprintf("after %d deliveries", i.Attempts)
		}
		return ""
	}
	s := string(i.Reason)
	if i.Stage != "" {
		s += " at " + string(i.Stage)
	}
	if i.Attempts > 0 {
		s += fmt.Sprintf(", %d attempt%s", i.Attempts, plural(i.Attempts))
	}
	if i.QuarantineOffset >= 0 {
		s += fmt.Sprintf(", behind offset %d", i.QuarantineOffset)
	}
	if i.Redrives > 0 {
		s += fmt.Sprintf(", redriven %d time%s before", i.Redrives, plural(i.Redrives))
	}
	if i.Reason.Unreadable() {
		s += " (unreadable: redrive leaves it unless -include-unreadable)"
	}
	return s
}

func keyText(k []byte) string {
	if k == nil {
		return "null"
	}
	return fmt.Sprintf("%q", k)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// clip keeps a long raw value to n bytes and says how much was left out.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s… (%d more bytes)", s[:n], len(s)-n)
}

// headerText shows a header's value for a person: Spring's big-endian
// integers as numbers (the original timestamp as a time too), anything
// else as printable text or hex.
func headerText(key string, v []byte) string {
	switch {
	case key == "kafka_dlt-original-partition" && len(v) == 4:
		return strconv.FormatInt(int64(int32(binary.BigEndian.Uint32(v))), 10)
	case key == "kafka_dlt-original-offset" && len(v) == 8:
		return strconv.FormatInt(int64(binary.BigEndian.Uint64(v)), 10)
	case key == "kafka_dlt-original-timestamp" && len(v) == 8:
		ms := int64(binary.BigEndian.Uint64(v))
		if ms < 0 {
			return strconv.FormatInt(ms, 10)
		}
		return fmt.Sprintf("%d (%s)", ms, time.UnixMilli(ms).UTC().Format(time.RFC3339Nano))
	}
	return printable(v)
}
