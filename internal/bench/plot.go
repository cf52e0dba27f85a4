package bench

import (
	"bytes"
	"fmt"
	"html"
	"math"
)

// plotLatencies draws each endpoint's latency distribution as a cumulative curve on a log scale (what share of
// answers came within x ms), the reference's per-update curve dashed beside them.
func plotLatencies(r Result) []byte {
	const (
		width, height          = 1000, 520
		left, right, top, foot = 70, 300, 50, 60 // right: the legend, "transfer/confirmed  p50 …, p99 … ms"
	)
	plotW, plotH := float64(width-left-right), float64(height-top-foot)
	type curve struct {
		name    string
		samples []float64 // sorted
		dashed  bool
	}
	var series []curve
	for _, k := range sortedEndpoints(r.Endpoints) {
		series = append(series, curve{k, r.Endpoints[k].Samples, false})
	}
	if r.Reference != nil {
		series = append(series, curve{"reference update", r.Reference.Updates.Samples, true})
	}
	lo, hi := 1.0, 10.0
	for _, s := range series {
		if n := len(s.samples); n > 0 {
			lo, hi = math.Min(lo, math.Max(s.samples[0], 0.1)), math.Max(hi, s.samples[n-1])
		}
	}
	lo, hi = math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
	x := func(ms float64) float64 {
		return float64(left) + plotW*(math.Log10(math.Max(ms, lo))-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))
	}
	y := func(share float64) float64 { return float64(top) + plotH*(1-share) }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	o := r.Options
	title := fmt.Sprintf("receiptflow bench: %d receipts, concurrency %d, mix %s, %s — %.1f receipts/s", r.Receipts, o.Concurrency, o.Mix, o.Channel, r.ReceiptsPerSecond)
	if r.Reference != nil {
		title += fmt.Sprintf(" (reference %.1f flows/s)", r.Reference.FlowsPerSecond)
	}
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="14">%s</text>`+"\n", left, html.EscapeString(title))
	for d := lo; d <= hi*1.0001; d *= 10 {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x(d), top, x(d), y(0))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%g ms</text>`+"\n", x(d), y(0)+18, d)
	}
	for _, share := range []float64{0, 0.5, 0.9, 1} { // 99% would print over 100%
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(share), x(hi), y(share))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%g%%</text>`+"\n", left-6, y(share)+4, share*100)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">latency (log scale)</text>`+"\n", float64(left)+plotW/2, height-16)
	colors := []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}
	for i, s := range series {
		if len(s.samples) == 0 {
			continue
		}
		color := colors[i%len(colors)]
		if s.dashed {
			color = "#000"
		}
		var path bytes.Buffer
		n := float64(len(s.samples))
		for j, ms := range s.samples {
			cmd := "L"
			if j == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, x(ms), y(float64(j+1)/n))
		}
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", path.String(), color, dash)
		ly := top + 10 + i*20
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"%s/>`+"\n", width-right+15, ly, width-right+40, ly, color, dash)
		p50, p99 := s.samples[int(n*0.5)], s.samples[min(len(s.samples)-1, int(math.Ceil(n*0.99))-1)]
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s  p50 %.0f, p99 %.0f ms</text>`+"\n", width-right+46, ly+4, html.EscapeString(s.name), p50, p99)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}
