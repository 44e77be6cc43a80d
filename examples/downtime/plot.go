package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	_ "gonum.org/v1/plot/vg/vgimg" // png
	_ "gonum.org/v1/plot/vg/vgpdf" // pdf
	_ "gonum.org/v1/plot/vg/vgsvg" // svg
)

// chart is what the picture shows, in seconds since the run's start,
// built from the samples and the story's moments. Both panels share its
// x-axis [0, end] and its bands and markers, so a moment lines up.
type chart struct {
	end     float64
	limit   float64
	burst   int
	handled plotter.XYs // records handled per second
	expired plotter.XYs // records expired per second (older than the age window: counted, not handled)
	capLine plotter.XYs // the rate cap, only while it applies (during the catch-up)
	backlog plotter.XYs // published, not yet handled or expired
	old     plotter.XYs // of the backlog, what is older than the age window
	maxAge  time.Duration
	bands   []interval
	markers []marker
}

// interval is a shaded span of the x-axis with a label: the downtime,
// the slow start; a "breaker open" span is one more.
type interval struct {
	from, to float64
	label    string
	color    color.Color
}

// marker is a moment drawn as a vertical line with a label.
type marker struct {
	at    float64
	label string
}

// rateWindow is the span each rate point is measured over: short enough
// to show the ramp, long enough to smooth the fetch batches.
// A window also ends at each moment of the story (a sample is taken
// there), so that no rate straddles the consumer going down or coming
// back.
const rateWindow = 500 * time.Millisecond

// minWindow is the shortest window a rate is measured over.
const minWindow = 100 * time.Millisecond

// chart builds the picture's data from the run.
func (s *story) chart() (chart, error) {
	s.mu.Lock()
	samples := append([]sample(nil), s.samples...)
	m := s.moments
	s.mu.Unlock()
	if len(samples) < 2 {
		return chart{}, fmt.Errorf("plot: only %d samples", len(samples))
	}
	last := samples[len(samples)-1].at
	ch := chart{end: last.Seconds(), limit: s.cfg.limit, burst: max(1, int(s.cfg.limit/20)), maxAge: s.cfg.maxAge}
	for i, b := range samples {
		ch.backlog = append(ch.backlog, plotter.XY{X: b.at.Seconds(), Y: float64(b.published - b.done)})
		ch.old = append(ch.old, plotter.XY{X: b.at.Seconds(), Y: float64(olderThan(samples[:i+1], s.cfg.maxAge))})
	}
	ch.handled, ch.expired = rates(samples)
	ch.setMoments(m, s.cfg, last)
	return ch, nil
}

// rates are the handled and expired rates over consecutive windows, each
// drawn as a step over its own window (PreStep): nothing is smeared
// before the moment it happened.
func rates(samples []sample) (handled, expired plotter.XYs) {
	a := samples[0]
	handled = plotter.XYs{{X: a.at.Seconds()}}
	expired = plotter.XYs{{X: a.at.Seconds()}}
	for _, b := range samples[1:] {
		switch {
		case b.at-a.at < rateWindow*9/10 && !b.moment: // the sampler's ticks jitter
			continue
		case b.at-a.at < minWindow:
			// A moment just after a window's end: too short to measure,
			// the next window starts at the moment.
			a = b
			continue
		}
		dt := (b.at - a.at).Seconds()
		handled = append(handled, plotter.XY{X: b.at.Seconds(), Y: float64(b.handled-a.handled) / dt})
		expired = append(expired, plotter.XY{X: b.at.Seconds(), Y: float64(b.expired-a.expired) / dt})
		a = b
	}
	return handled, expired
}

// setMoments sets the bands, the markers and the cap line (while the
// catch-up is active; to the end of the run if it never ended).
func (ch *chart) setMoments(m moments, cfg config, last time.Duration) {
	sec := func(d time.Duration) float64 { return d.Seconds() }
	or := func(d, otherwise time.Duration) time.Duration {
		if d == 0 {
			return otherwise
		}
		return d
	}
	if m.down > 0 && m.back > m.down {
		ch.bands = append(ch.bands, interval{sec(m.down), sec(m.back), "consumer down", color.NRGBA{0x80, 0x80, 0x80, 0x40}})
	}
	if m.back > 0 && cfg.warmup > 0 {
		ch.bands = append(ch.bands, interval{sec(m.back), sec(m.back + cfg.warmup),
			fmt.Sprintf("slow start: 1→%d lanes", cfg.lanes), color.NRGBA{0x2c, 0xa0, 0x2c, 0x30}})
	}
	for _, sp := range m.spans {
		ch.bands = append(ch.bands, interval{sec(sp.from), sec(or(sp.to, last)), sp.label, sp.color})
	}
	if m.back > 0 {
		ch.markers = append(ch.markers, marker{sec(m.back), "consumer back"})
	}
	if m.catchStart > 0 {
		ch.markers = append(ch.markers, marker{sec(m.catchStart), "catch-up start"})
		ch.capLine = plotter.XYs{{X: sec(m.catchStart), Y: cfg.limit}, {X: sec(or(m.catchEnd, last)), Y: cfg.limit}}
	}
	if m.catchEnd > 0 {
		ch.markers = append(ch.markers, marker{sec(m.catchEnd), "caught up"})
	}
}

// olderThan is how much of the backlog at the last sample is older than
// age: what was published by age before it, less what is done (handled
// or expired). The service publishes at a steady rate and the consumer
// takes each partition's oldest records first, so this is close; it is
// not exact (the partitions do not advance in step).
func olderThan(samples []sample, age time.Duration) int64 {
	b := samples[len(samples)-1]
	var then int64 // published by b.at-age
	for _, a := range samples {
		if a.at > b.at-age {
			break
		}
		then = a.published
	}
	return max(0, then-b.done)
}

// drawPlot writes the picture to path; its extension picks the format
// (png, svg, pdf).
func (s *story) drawPlot(path string) error {
	ch, err := s.chart()
	if err != nil {
		return err
	}
	format := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	const w, h = 11 * vg.Inch, 9.5 * vg.Inch
	img, err := draw.NewFormattedCanvas(w, h, format)
	if err != nil {
		return fmt.Errorf("plot %s: %w (use .png, .svg or .pdf)", path, err)
	}
	if err := ch.draw(draw.New(img)); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := img.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// legendWidth is the strip right of the panels where the legends go, out
// of the data.
const legendWidth = 2.6 * vg.Inch

// draw draws the three panels, aligned on one x-axis, with their legends
// in a strip to the right.
func (ch chart) draw(dc draw.Canvas) error {
	rp, rl, err := ch.ratePanel()
	if err != nil {
		return err
	}
	ep, el, err := ch.expiredPanel()
	if err != nil {
		return err
	}
	bp, bl, err := ch.backlogPanel()
	if err != nil {
		return err
	}
	tiles := draw.Tiles{Rows: 3, Cols: 1, PadY: vg.Millimeter * 8,
		PadTop: vg.Millimeter * 4, PadBottom: vg.Millimeter * 4, PadLeft: vg.Millimeter * 4, PadRight: vg.Millimeter * 4}
	panels := draw.Crop(dc, 0, -legendWidth, 0, 0)
	cs := plot.Align([][]*plot.Plot{{rp}, {ep}, {bp}}, tiles, panels)
	for i, p := range []*plot.Plot{rp, ep, bp} {
		p.Draw(cs[i][0])
		da := p.DataCanvas(cs[i][0])
		strip := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: cs[i][0].Max.X + vg.Millimeter*2, Y: da.Min.Y},
			Max: vg.Point{X: dc.Max.X - vg.Millimeter*2, Y: da.Max.Y}}}
		[]plot.Legend{rl, el, bl}[i].Draw(strip)
	}
	return nil
}

// ratePanel is the top panel: records handled per second against the
// rate cap (drawn only while it applies), the bands and the labelled
// markers.
func (ch chart) ratePanel() (*plot.Plot, plot.Legend, error) {
	p, l := ch.panel("handled per second", "records/s")
	ch.addBands(p, true)
	hd, err := area(ch.handled, colorHandled, plotter.PreStep)
	if err != nil {
		return nil, l, err
	}
	p.Add(hd)
	l.Add("handled/s", hd)
	if len(ch.capLine) > 0 {
		cl, err := plotter.NewLine(ch.capLine)
		if err != nil {
			return nil, l, err
		}
		cl.Color, cl.Width, cl.Dashes = colorCap, vg.Points(2), []vg.Length{vg.Points(6), vg.Points(3)}
		p.Add(cl)
		l.Add(fmt.Sprintf("rate cap %.0f/s, burst %d\n(applies during the catch-up)", ch.limit, ch.burst), cl)
	}
	ch.addMoments(p, &l, true)
	p.Y.Min, p.Y.Max = 0, p.Y.Max*1.45 // headroom for the labels (after Add, which widens the axes)
	return p, l, nil
}

// expiredPanel is the middle panel: records expired per second. Apart
// from the handled: expiry takes no token and comes in bursts far above
// the cap, as records cross the age window.
func (ch chart) expiredPanel() (*plot.Plot, plot.Legend, error) {
	p, l := ch.panel("expired per second", "records/s")
	ch.addBands(p, false)
	ex, err := area(ch.expired, colorExpired, plotter.PreStep)
	if err != nil {
		return nil, l, err
	}
	p.Add(ex)
	defer func() { p.Y.Min, p.Y.Max = 0, p.Y.Max*1.1 }()
	l.Add(fmt.Sprintf("expired/s: older than %v,\nnot handled, take no token", ch.maxAge), ex)
	ch.addMoments(p, &l, false)
	return p, l, nil
}

// backlogPanel is the bottom panel: the backlog, the same bands and
// markers (labelled once, above).
func (ch chart) backlogPanel() (*plot.Plot, plot.Legend, error) {
	p, l := ch.panel("backlog", "records")
	ch.addBands(p, false)
	bl, err := area(ch.backlog, colorBacklog, plotter.NoStep)
	if err != nil {
		return nil, l, err
	}
	old, err := area(ch.old, colorExpired, plotter.NoStep)
	if err != nil {
		return nil, l, err
	}
	p.Add(bl, old)
	l.Add("backlog: published, not\nyet handled or expired", bl)
	l.Add(fmt.Sprintf("of it older than %v: expire\nwhen taken (estimate)", ch.maxAge), old)
	ch.addMoments(p, &l, false)
	p.Y.Min = 0
	return p, l, nil
}

// panel is a plot on the shared x-axis with an empty legend for the strip.
func (ch chart) panel(title, ylabel string) (*plot.Plot, plot.Legend) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = "seconds since the start of the run", ylabel
	p.X.Min, p.X.Max = 0, ch.end
	p.X.Tick.Marker = secondTicks{}
	p.Y.Tick.Marker = wholeTicks{}
	p.Add(plotter.NewGrid())
	l := plot.NewLegend()
	l.Left, l.Top = true, true
	l.Padding = vg.Millimeter * 1.5
	return p, l
}

// addBands adds the shaded intervals; called before the data, so they
// are drawn under it. labelled puts their labels in the panel, a row
// lower for each earlier band that overlaps it (the fulfilment outage and
// the breaker open inside it).
func (ch chart) addBands(p *plot.Plot, labelled bool) {
	for i, b := range ch.bands {
		row := 0
		for _, e := range ch.bands[:i] {
			if e.from < b.to && b.from < e.to {
				row++
			}
		}
		p.Add(bandPlotter{b, labelled, row})
	}
}

// addMoments adds the markers over the data; labelled (the top panel)
// puts their labels in the panel and the bands' and markers' entries in
// its legend; the panels below share them.
func (ch chart) addMoments(p *plot.Plot, l *plot.Legend, labelled bool) {
	row := 0
	for i, m := range ch.markers {
		// Stagger the labels of near moments (a label is about 2.5 s
		// wide at the default size), so they do not collide.
		if i > 0 && m.at-ch.markers[i-1].at < 2.5 {
			row++
		} else {
			row = 0
		}
		p.Add(markerPlotter{m, row, labelled})
	}
	if !labelled {
		return
	}
	for _, b := range ch.bands {
		l.Add(b.label, bandPlotter{b, false, 0})
	}
	if len(ch.markers) > 0 {
		l.Add("moments (dashed lines)", markerPlotter{})
	}
}

// area is a filled line; rates are steps (PreStep: a point's value holds
// over the window before it), the backlog is a sampled curve.
func area(xys plotter.XYs, c color.NRGBA, stepStyle plotter.StepKind) (*plotter.Line, error) {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, err
	}
	l.Color, l.Width, l.StepStyle = c, vg.Points(1), stepStyle
	l.FillColor = c
	return l, nil
}

var (
	colorHandled = color.NRGBA{0x1f, 0x77, 0xb4, 0xc0}
	colorExpired = color.NRGBA{0xff, 0x7f, 0x0e, 0xc0}
	colorCap     = color.RGBA{0xd6, 0x27, 0x28, 0xff}
	colorBacklog = color.NRGBA{0x94, 0x67, 0xbd, 0xa0}
	colorMarker  = color.RGBA{0x33, 0x33, 0x33, 0xff}
)

// bandPlotter draws an interval across the data area, its label at the
// top.
type bandPlotter struct {
	interval
	labelled bool
	row      int
}

func (b bandPlotter) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x0, x1 := max(trX(b.from), c.Min.X), min(trX(b.to), c.Max.X)
	if x1 <= x0 {
		return
	}
	c.FillPolygon(b.color, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
	if b.labelled {
		sty := p.Legend.TextStyle
		sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
		row := vg.Length(b.row) * sty.Height("M") * 1.4
		c.FillText(sty, vg.Point{X: (x0 + x1) / 2, Y: c.Max.Y - vg.Millimeter - row}, b.label)
	}
}

func (b bandPlotter) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(b.color, []vg.Point{c.Min, {X: c.Max.X, Y: c.Min.Y}, c.Max, {X: c.Min.X, Y: c.Max.Y}})
}

// markerPlotter draws a moment as a dashed vertical line; labelled, its
// label goes right of the line, the rows staggered so near moments do
// not collide.
type markerPlotter struct {
	marker
	row      int
	labelled bool
}

var markerLine = draw.LineStyle{Color: colorMarker, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}

func (markerPlotter) Thumbnail(c *draw.Canvas) {
	y := (c.Min.Y + c.Max.Y) / 2
	c.StrokeLine2(markerLine, c.Min.X, y, c.Max.X, y)
}

func (m markerPlotter) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(m.at)
	if x < c.Min.X || x > c.Max.X {
		return
	}
	c.StrokeLine2(markerLine, x, c.Min.Y, x, c.Max.Y)
	if m.labelled {
		sty := p.Legend.TextStyle
		sty.XAlign, sty.YAlign = draw.XLeft, draw.YTop
		row := vg.Length(m.row+1) * sty.Height("M") * 1.4
		at := vg.Point{X: x + vg.Millimeter, Y: c.Max.Y - vg.Millimeter - row}
		if at.X+sty.Width(m.label) > c.Max.X { // no room right of the line
			sty.XAlign, at.X = draw.XRight, x-vg.Millimeter
		}
		c.FillText(sty, at, m.label)
	}
}

// wholeTicks are gonum's default ticks labelled as whole numbers (not
// "2500.00").
type wholeTicks struct{}

func (wholeTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(math.Round(ts[i].Value), 'f', -1, 64)
		}
	}
	return ts
}

// secondTicks labels every second (every other one past 20 s) and marks
// every half second.
type secondTicks struct{}

func (secondTicks) Ticks(lo, hi float64) []plot.Tick {
	every := 1.0
	if hi-lo > 20 {
		every = 2
	}
	var ts []plot.Tick
	for x := math.Ceil(lo*2) / 2; x <= hi; x += 0.5 {
		t := plot.Tick{Value: x}
		if math.Mod(x, every) == 0 {
			t.Label = strconv.FormatFloat(x, 'f', -1, 64)
		}
		ts = append(ts, t)
	}
	return ts
}
