package bench

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var (
	colP50  = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colP90  = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	colP99  = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	colMax  = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	colAcc  = color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}
	colAgg  = color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff}
	colDel  = color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff}
	colGDel = color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}
)

// plot writes a PNG with two panels sharing the time axis: latency
// percentiles per second (ours solid, the gorilla baseline's dashed, the
// per-message one's dotted, the kafka-trip floor's dash-dot) and
// throughput (events accepted and aggregated, frames delivered).
func (r *Result) plot(path string) error {
	if r.Ovation == nil || len(r.Ovation.Series) == 0 {
		return nil
	}
	lat := plot.New()
	lat.Title.Text = fmt.Sprintf("ovation bench %s: end-to-end frame latency per second (%d viewers, %d rooms, rate %s, %d cores)", r.Name, r.Viewers, r.Rooms, rateStr(r.Rate), r.Cores)
	lat.X.Label.Text = "seconds since start"
	lat.Y.Label.Text = "ms"
	lat.Legend.Top = true
	lat.Legend.Left = true
	thr := plot.New()
	thr.Title.Text = "throughput per second"
	thr.X.Label.Text = "seconds since start"
	thr.Y.Label.Text = "per second"
	thr.Legend.Top = true
	thr.Legend.Left = true

	add := func(p *plot.Plot, name string, s []Point, col color.Color, style int, y func(Point) float64, floor float64) error {
		xys := make(plotter.XYs, 0, len(s))
		for _, pt := range s {
			xys = append(xys, plotter.XY{X: pt.T, Y: max(y(pt), floor)})
		}
		if len(xys) == 0 {
			return nil
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return err
		}
		l.Color = col
		l.Width = vg.Points(1.5)
		switch style {
		case 1: // dashed
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		case 2: // dotted
			l.Dashes = []vg.Length{vg.Points(1.5), vg.Points(2)}
		case 3: // dash-dot
			l.Dashes = []vg.Length{vg.Points(6), vg.Points(2), vg.Points(1.5), vg.Points(2)}
		}
		p.Add(l)
		p.Legend.Add(name, l)
		return nil
	}
	o := r.Ovation.Series
	const floor = 0
	for _, c := range []struct {
		name string
		col  color.Color
		y    func(Point) float64
	}{
		{"p50", colP50, func(p Point) float64 { return p.P50 }},
		{"p90", colP90, func(p Point) float64 { return p.P90 }},
		{"p99", colP99, func(p Point) float64 { return p.P99 }},
		{"max", colMax, func(p Point) float64 { return p.Max }},
	} {
		if err := add(lat, "ovation "+c.name, o, c.col, 0, c.y, floor); err != nil {
			return err
		}
	}
	if g := r.Gorilla; g != nil {
		// The baseline ran after ours; draw it on the same relative axis.
		gs := shift(g.Series, o)
		add(lat, "gorilla p50", gs, colP50, 1, func(p Point) float64 { return p.P50 }, floor)
		add(lat, "gorilla p99", gs, colP99, 1, func(p Point) float64 { return p.P99 }, floor)
	}
	if d := r.Direct; d != nil {
		// Dotted: the per-message baseline.
		ds := shift(d.Series, o)
		add(lat, "per-message gorilla p50", ds, colP50, 2, func(p Point) float64 { return p.P50 }, floor)
		add(lat, "per-message gorilla p99", ds, colP99, 2, func(p Point) float64 { return p.P99 }, floor)
	}
	if t := r.KafkaTrip; t != nil {
		// Dash-dot: the floor of the fixed shape.
		ts := shift(t.Series, o)
		add(lat, "kafka-trip floor p50", ts, colP50, 3, func(p Point) float64 { return p.P50 }, floor)
		add(lat, "kafka-trip floor p99", ts, colP99, 3, func(p Point) float64 { return p.P99 }, floor)
	}
	add(thr, "events accepted/s", o, colAcc, 0, func(p Point) float64 { return p.AcceptPS }, 0)
	add(thr, "events aggregated/s", o, colAgg, 0, func(p Point) float64 { return p.AggPS }, 0)
	add(thr, "frames delivered/s (ovation)", o, colDel, 0, func(p Point) float64 { return p.DeliverPS }, 0)
	if g := r.Gorilla; g != nil {
		add(thr, "frames delivered/s (gorilla)", shift(g.Series, o), colGDel, 1, func(p Point) float64 { return p.DeliverPS }, 0)
	}

	// Room above the lines for the legends.
	lat.Y.Min, thr.Y.Min = 0, 0
	lat.Y.Max *= 1.4
	thr.Y.Max *= 1.4

	const w, h = 30 * vg.Centimeter, 24 * vg.Centimeter
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadX: vg.Millimeter * 2, PadY: vg.Millimeter * 4, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	plots := [][]*plot.Plot{{lat}, {thr}}
	canvases := plot.Align(plots, tiles, dc)
	lat.Draw(canvases[0][0])
	thr.Draw(canvases[1][0])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// shift moves series s so its first point lines up with ref's.
func shift(s, ref []Point) []Point {
	if len(s) == 0 || len(ref) == 0 {
		return s
	}
	d := s[0].T - ref[0].T
	out := make([]Point, len(s))
	for i, p := range s {
		p.T -= d
		out[i] = p
	}
	return out
}
