package main

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// drawPlot writes two charts to path (SVG): the consumption rate over
// time against the rate limit, and the backlog (published, not yet
// handled or expired) over time.
func (s *story) drawPlot(path string) error {
	s.mu.Lock()
	samples := append([]sample(nil), s.samples...)
	s.mu.Unlock()
	if len(samples) < 2 {
		return fmt.Errorf("plot: only %d samples", len(samples))
	}
	rate := make(plotter.XYs, 0, len(samples))
	backlog := make(plotter.XYs, 0, len(samples))
	for i, b := range samples {
		backlog = append(backlog, plotter.XY{X: b.at.Seconds(), Y: float64(b.published - b.done)})
		if i == 0 {
			continue
		}
		a := samples[i-1]
		rate = append(rate, plotter.XY{X: b.at.Seconds(), Y: float64(b.handled-a.handled) / (b.at - a.at).Seconds()})
	}
	end := samples[len(samples)-1].at.Seconds()
	rp := plot.New()
	rp.Title.Text = "consumption rate"
	rp.X.Label.Text, rp.Y.Label.Text = "seconds", "records/s"
	limit := plotter.XYs{{X: 0, Y: s.cfg.limit}, {X: end, Y: s.cfg.limit}}
	if err := addLines(rp, "handled/s", rate, "rate limit", limit); err != nil {
		return err
	}
	bp := plot.New()
	bp.Title.Text = "backlog"
	bp.X.Label.Text, bp.Y.Label.Text = "seconds", "records"
	if err := addLines(bp, "published, not yet handled or expired", backlog); err != nil {
		return err
	}
	img := vgsvg.New(8*vg.Inch, 7*vg.Inch)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 6,
		PadTop: vg.Millimeter * 4, PadBottom: vg.Millimeter * 4, PadLeft: vg.Millimeter * 4, PadRight: vg.Millimeter * 4}
	cs := plot.Align([][]*plot.Plot{{rp}, {bp}}, tiles, draw.New(img))
	rp.Draw(cs[0][0])
	bp.Draw(cs[1][0])
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

// addLines adds named lines (name, XYs, name, XYs, ...) to p, each in its
// own colour, with a legend.
func addLines(p *plot.Plot, lines ...any) error {
	for i := 0; i+1 < len(lines); i += 2 {
		l, err := plotter.NewLine(lines[i+1].(plotter.XYs))
		if err != nil {
			return err
		}
		l.Color = plotColors[i/2%len(plotColors)]
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(lines[i].(string), l)
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return nil
}

var plotColors = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}
