// Package statement draws a payee's income statement (收入明细 / 完税证明 figures) as a one-page PDF with
// go-pdf/fpdf. Chinese needs a TrueType font with CJK glyphs: the caller passes its bytes (the configured font file).
package statement

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/go-pdf/fpdf"
	"github.com/receiptflow/receiptflow/tax"
)

// Statement is what the page shows: the year, who (masked), per month and in total what was paid, withheld and
// received, in fen.
type Statement struct {
	Year                     int
	Name                     string // masked, e.g. 李*
	IDNumber                 string // masked
	Platform                 string
	Months                   []Month
	GrossFen, TaxFen, NetFen int64
	IssuedAt                 string
}

// Month is one month's figures and how many paid orders they sum.
type Month struct {
	Period                   string
	Orders                   int
	GrossFen, TaxFen, NetFen int64
}

// ErrNoFont: a font is missing.
var ErrNoFont = errors.New("statement: a TrueType font with Chinese glyphs and one with Latin glyphs are needed")

// Fonts are the two TrueType fonts a page needs: CJK fonts such as Droid Sans Fallback carry no Latin letters or
// digits (they fall back to another font on screen; a PDF must name one), so every run of text is set in the font
// that has its glyphs.
type Fonts struct {
	CJK, Latin []byte
}

// PDF draws s on one A4 page.
func PDF(s Statement, fonts Fonts) ([]byte, error) {
	if len(fonts.CJK) == 0 || len(fonts.Latin) == 0 {
		return nil, ErrNoFont
	}
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetTitle(fmt.Sprintf("收入明细 %d", s.Year), true)
	pdf.SetCreator("receiptflow", false)
	pdf.AddUTF8FontFromBytes("cjk", "", fonts.CJK)
	pdf.AddUTF8FontFromBytes("latin", "", fonts.Latin)
	t := &typesetter{pdf: pdf}
	pdf.AddPage()
	t.size = 18
	t.cell(0, 12, fmt.Sprintf("%d 年度收入明细", s.Year), "", true, "C")
	t.size = 11
	t.cell(0, 7, fmt.Sprintf("收款人：%s    证件号码：%s", s.Name, s.IDNumber), "", true, "L")
	t.cell(0, 7, "扣缴义务人："+s.Platform, "", true, "L")
	pdf.Ln(3)
	widths := []float64{36, 24, 40, 40, 40}
	header := []string{"月份", "笔数", "应发金额（元）", "代扣个税（元）", "实发金额（元）"}
	for i, h := range header {
		t.cell(widths[i], 8, h, "1", false, "C")
	}
	pdf.Ln(-1)
	row := func(cells ...string) {
		for i, c := range cells {
			align := "R"
			if i == 0 {
				align = "C"
			}
			t.cell(widths[i], 8, c, "1", false, align)
		}
		pdf.Ln(-1)
	}
	orders := 0
	for _, m := range s.Months {
		row(m.Period, fmt.Sprint(m.Orders), tax.Yuan(m.GrossFen), tax.Yuan(m.TaxFen), tax.Yuan(m.NetFen))
		orders += m.Orders
	}
	row("合计", fmt.Sprint(orders), tax.Yuan(s.GrossFen), tax.Yuan(s.TaxFen), tax.Yuan(s.NetFen))
	pdf.Ln(4)
	t.size = 9
	t.paragraph(5, "本明细依据平台代扣代缴记录生成，劳务报酬所得按《国家税务总局公告2025年第16号》累计预扣法或预扣率表二预扣预缴；"+
		"仅含已付款订单。出具时间："+s.IssuedAt)
	var out bytes.Buffer
	if err := pdf.Output(&out); err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	return out.Bytes(), nil
}

// typesetter writes mixed Chinese and Latin text, each run in its font, at one size.
type typesetter struct {
	pdf  *fpdf.Fpdf
	size float64
}

// cjk: the characters the CJK font draws (ideographs, CJK and full-width punctuation); the Latin font the rest.
func cjk(r rune) bool {
	return r >= 0x2E80 && r <= 0x9FFF || r >= 0xF900 && r <= 0xFAFF || r >= 0xFE30 && r <= 0xFE4F || r >= 0xFF00 && r <= 0xFFEF
}

type run struct {
	font, text string
}

func runs(text string) []run {
	var out []run
	for _, r := range text {
		font := "latin"
		if cjk(r) {
			font = "cjk"
		}
		if n := len(out); n > 0 && out[n-1].font == font {
			out[n-1].text += string(r)
		} else {
			out = append(out, run{font, string(r)})
		}
	}
	return out
}

func (t *typesetter) width(text string) float64 {
	w := 0.0
	for _, r := range runs(text) {
		t.pdf.SetFont(r.font, "", t.size)
		w += t.pdf.GetStringWidth(r.text)
	}
	return w
}

// draw writes text with its left end at x, centred on a line of height h starting at y.
func (t *typesetter) draw(x, y, h float64, text string) {
	for _, r := range runs(text) {
		t.pdf.SetFont(r.font, "", t.size)
		_, unit := t.pdf.GetFontSize()
		t.pdf.Text(x, y+h/2+0.3*unit, r.text)
		x += t.pdf.GetStringWidth(r.text)
	}
}

// cell is fpdf's CellFormat for mixed text: a box of w × h (w 0: to the right margin) with border, text aligned
// L, C or R inside it; then the next line (newLine) or the right of the box.
func (t *typesetter) cell(w, h float64, text, border string, newLine bool, align string) {
	x, y := t.pdf.GetXY()
	left, _, right, _ := t.pdf.GetMargins()
	page, _ := t.pdf.GetPageSize()
	if w == 0 {
		w = page - right - x
	}
	t.pdf.SetFont("latin", "", t.size)
	t.pdf.CellFormat(w, h, "", border, 0, "", false, 0, "")
	pad, tw := t.pdf.GetCellMargin(), t.width(text)
	start := x + pad
	switch align {
	case "C":
		start = x + (w-tw)/2
	case "R":
		start = x + w - pad - tw
	}
	t.draw(start, y, h, text)
	if newLine {
		t.pdf.SetXY(left, y+h)
	} else {
		t.pdf.SetXY(x+w, y)
	}
}

// paragraph writes text across the page, wrapped at the right margin, lines of height h.
func (t *typesetter) paragraph(h float64, text string) {
	left, _, right, _ := t.pdf.GetMargins()
	page, _ := t.pdf.GetPageSize()
	max := page - left - right - 2*t.pdf.GetCellMargin()
	var line []rune
	flush := func() {
		t.cell(0, h, string(line), "", true, "L")
		line = line[:0]
	}
	for _, r := range text {
		if t.width(string(append(line, r))) > max {
			flush()
		}
		line = append(line, r)
	}
	if len(line) > 0 {
		flush()
	}
}
