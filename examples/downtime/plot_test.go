package main

import (
	"bytes"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/recorder"
)

// storyOf is a synthetic run: samples every 250 ms for 12 s; the
// consumer handles 2000/s until it goes down at 2 s, is back at 4 s,
// catches up from 4.25 s to 9 s handling 1000/s then 3000/s (from 5 s)
// and expiring 4000/s from 5 s to 6 s, then handles 2000/s again; a
// "breaker open" span from 6 s to 7 s.
func storyOf() *story {
	s := &story{cfg: config{limit: 3000, warmup: 3 * time.Second, lanes: 48, maxAge: 4 * time.Second}}
	var handled, expired float64
	for at := time.Duration(0); at <= 12*time.Second; at += 250 * time.Millisecond {
		t := at.Seconds()
		switch {
		case t == 0:
		case t <= 2, t > 9:
			handled += 500
		case t > 5:
			handled += 750
		case t > 4.5:
			handled += 250
		}
		if t > 5 && t <= 6 {
			expired += 1000
		}
		s.samples = append(s.samples, sample{at: at, published: int64(2000 * t), handled: int64(handled),
			expired: int64(expired), done: int64(handled + expired)})
	}
	s.moments = moments{down: 2 * time.Second, back: 4 * time.Second, catchStart: 4250 * time.Millisecond, catchEnd: 9 * time.Second}
	s.moments.spans = []span{{from: 6 * time.Second, to: 7 * time.Second, label: "breaker open", color: color.NRGBA{R: 0xd6, A: 0x30}}}
	return s
}

// TestChart guards what the picture shows: handled and expired as
// separate rates, each a step over the window it was measured in; the
// rate cap only while a catch-up is active; the downtime, the slow start
// and any other span shaded; the moments marked.
func TestChart(t *testing.T) {
	ch, err := storyOf().chart()
	if err != nil {
		t.Fatal(err)
	}
	if want := (plotter.XYs{{X: 4.25, Y: 3000}, {X: 9, Y: 3000}}); !equalXYs(ch.capLine, want) {
		t.Errorf("cap line %v, want %v: only while the catch-up is active", ch.capLine, want)
	}
	rateAt := func(xys plotter.XYs, x float64) float64 {
		for i := 1; i < len(xys); i++ {
			if xys[i-1].X < x && x <= xys[i].X {
				return xys[i].Y
			}
		}
		t.Fatalf("no rate at %v in %v", x, xys)
		return 0
	}
	for _, c := range []struct{ at, handled, expired float64 }{
		{1, 2000, 0}, {3, 0, 0}, {4.75, 1000, 0}, {5.25, 3000, 4000}, {5.75, 3000, 4000}, {8, 3000, 0}, {10, 2000, 0},
	} {
		if h, e := rateAt(ch.handled, c.at), rateAt(ch.expired, c.at); h != c.handled || e != c.expired {
			t.Errorf("at %vs: handled %v/s, expired %v/s; want %v, %v", c.at, h, e, c.handled, c.expired)
		}
	}
	var bands []string
	for _, b := range ch.bands {
		bands = append(bands, b.label+" "+secs(b.from)+"-"+secs(b.to))
	}
	if got, want := strings.Join(bands, "; "), "consumer down 2-4; slow start: 1→48 lanes 4-7; breaker open 6-7"; got != want {
		t.Errorf("bands %q, want %q", got, want)
	}
	var marks []string
	for _, m := range ch.markers {
		marks = append(marks, m.label+" "+secs(m.at))
	}
	if got, want := strings.Join(marks, "; "), "consumer back 4; catch-up start 4.25; caught up 9"; got != want {
		t.Errorf("markers %q, want %q", got, want)
	}
}

// TestChartLayout guards the layout: the three panels share one x-axis
// from the run's start to its end, and every legend is drawn in the
// strip right of the panels, out of the data.
func TestChartLayout(t *testing.T) {
	ch, err := storyOf().chart()
	if err != nil {
		t.Fatal(err)
	}
	for i, mk := range []func() (xmin, xmax float64, err error){
		func() (float64, float64, error) { p, _, err := ch.ratePanel(); return p.X.Min, p.X.Max, err },
		func() (float64, float64, error) { p, _, err := ch.expiredPanel(); return p.X.Min, p.X.Max, err },
		func() (float64, float64, error) { p, _, err := ch.backlogPanel(); return p.X.Min, p.X.Max, err },
	} {
		lo, hi, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		if lo != 0 || hi != ch.end {
			t.Errorf("panel %d: x-axis [%v, %v], want [0, %v]", i, lo, hi, ch.end)
		}
	}
	const w, h = 11 * vg.Inch, 9.5 * vg.Inch
	var rec recorder.Canvas
	if err := ch.draw(draw.NewCanvas(&rec, w, h)); err != nil {
		t.Fatal(err)
	}
	legend := []string{"handled/s", "rate cap 3000/s, burst 150", "consumer down", "breaker open", "moments (dashed lines)",
		"expired/s: older than 4s,", "backlog: published, not", "of it older than 4s: expire"}
	seen := map[string]bool{}
	for _, a := range rec.Actions {
		fs, ok := a.(*recorder.FillString)
		if !ok {
			continue
		}
		for _, l := range legend {
			if fs.String == l && fs.Point.X >= w-legendWidth {
				seen[l] = true
			}
		}
	}
	for _, l := range legend {
		if !seen[l] {
			t.Errorf("legend entry %q not drawn in the strip right of the panels (x >= %v)", l, w-legendWidth)
		}
	}
}

// TestDrawPlot guards the formats: the extension picks PNG or SVG, and
// an unknown one is refused.
func TestDrawPlot(t *testing.T) {
	s, dir := storyOf(), t.TempDir()
	pngPath := filepath.Join(dir, "rate.png")
	if err := s.drawPlot(pngPath); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if r := img.Bounds(); r.Dx() < 1000 || r.Dy() < 800 {
		t.Errorf("PNG %v, want at least 1000x800", r)
	}
	svgPath := filepath.Join(dir, "rate.svg")
	if err := s.drawPlot(svgPath); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(svgPath); err != nil || !bytes.Contains(b, []byte("<svg")) {
		t.Errorf("SVG: %v, %.60q", err, b)
	}
	if err := s.drawPlot(filepath.Join(dir, "rate.bmp")); err == nil || !strings.Contains(err.Error(), ".png, .svg or .pdf") {
		t.Errorf("bmp: %v, want refused", err)
	}
}

// TestSpanFrom guards the hook for other shaded intervals (the breaker):
// a span ended is drawn from start to end, one not ended to the run's end.
func TestSpanFrom(t *testing.T) {
	s := &story{start: time.Now()}
	end := s.spanFrom("breaker open", color.NRGBA{R: 0xff, A: 0x30})
	s.spanFrom("still open", color.NRGBA{R: 0xff, A: 0x30})
	end()
	if n := len(s.moments.spans); n != 2 || s.moments.spans[0].to == 0 || s.moments.spans[1].to != 0 {
		t.Fatalf("spans %+v", s.moments.spans)
	}
	s.samples = []sample{{at: 0}, {at: time.Second}}
	ch, err := s.chart()
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.bands) != 2 || ch.bands[1].to != 1 {
		t.Errorf("bands %+v, want the open span to the run's end (1 s)", ch.bands)
	}
}

func secs(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

func equalXYs(a, b plotter.XYs) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestChartWindowsEndAtMoments guards the rate windows: one ends at each
// moment of the story (a sample is taken there), so no rate straddles the
// consumer going down: 2000/s up to the moment, 0 after, nothing between.
func TestChartWindowsEndAtMoments(t *testing.T) {
	s := &story{cfg: config{limit: 3000, maxAge: 4 * time.Second}}
	down := 2100 * time.Millisecond
	handledAt := func(at time.Duration) int64 { return int64(2000 * min(at, down).Seconds()) }
	for at := time.Duration(0); at <= 4*time.Second; at += 250 * time.Millisecond {
		if at > down && at-250*time.Millisecond < down {
			s.samples = append(s.samples, sample{at: down, handled: handledAt(down), moment: true})
		}
		s.samples = append(s.samples, sample{at: at, handled: handledAt(at)})
	}
	s.moments = moments{down: down}
	ch, err := s.chart()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ch.handled[1:] {
		if math.Abs(p.Y-2000) > 1e-6 && p.Y != 0 {
			t.Errorf("handled %v/s in the window ending at %vs: it straddles the moment the consumer went down (%v)", p.Y, p.X, down)
		}
	}
}
