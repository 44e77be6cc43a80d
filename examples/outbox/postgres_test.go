//go:build integration

package main

import (
	"bytes"
	"testing"

	"github.com/ordo-go/ordo/internal/pgtest"
)

// TestStoryPostgres runs the story with -postgres on a PostgreSQL server
// of its own (or ORDO_TEST_POSTGRES's): the orders, outbox, charges and
// inbox marks are tables, and the charges table has no unique
// constraint, so a charge booked twice would be a second row.
func TestStoryPostgres(t *testing.T) {
	srv, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	}()
	var out, errs bytes.Buffer
	if code := mainCode([]string{"-postgres", srv.URL}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errs.String(), out.String())
	}
	wantLines(t, out.String(), "summary (PostgreSQL: pgoutbox, pginbox)", "orders charged       25",
		"duplicates skipped   25", "lost                 0", "charged twice        0")
	t.Run("without the inbox", func(t *testing.T) { storyFailsOnDoubleCharge(t, srv.URL) })
}
