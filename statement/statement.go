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

// ErrNoFont: no CJK font was given.
var ErrNoFont = errors.New("statement: a TrueType font with Chinese glyphs is needed")

// PDF draws s on one A4 page.
func PDF(s Statement, font []byte) ([]byte, error) {
	if len(font) == 0 {
		return nil, ErrNoFont
	}
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetTitle(fmt.Sprintf("收入明细 %d", s.Year), true)
	pdf.SetCreator("receiptflow", false)
	pdf.AddUTF8FontFromBytes("cjk", "", font)
	pdf.AddPage()
	pdf.SetFont("cjk", "", 18)
	pdf.CellFormat(0, 12, fmt.Sprintf("%d 年度收入明细", s.Year), "", 1, "C", false, 0, "")
	pdf.SetFont("cjk", "", 11)
	pdf.CellFormat(0, 7, fmt.Sprintf("收款人：%s    证件号码：%s", s.Name, s.IDNumber), "", 1, "L", false, 0, "")
	pdf.CellFormat(0, 7, "扣缴义务人："+s.Platform, "", 1, "L", false, 0, "")
	pdf.Ln(3)
	widths := []float64{36, 24, 40, 40, 40}
	header := []string{"月份", "笔数", "应发金额（元）", "代扣个税（元）", "实发金额（元）"}
	for i, h := range header {
		pdf.CellFormat(widths[i], 8, h, "1", 0, "C", false, 0, "")
	}
	pdf.Ln(-1)
	row := func(cells ...string) {
		for i, c := range cells {
			align := "R"
			if i == 0 {
				align = "C"
			}
			pdf.CellFormat(widths[i], 8, c, "1", 0, align, false, 0, "")
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
	pdf.SetFont("cjk", "", 9)
	pdf.MultiCell(0, 5, "本明细依据平台代扣代缴记录生成，劳务报酬所得按《国家税务总局公告2025年第16号》累计预扣法或预扣率表二预扣预缴；"+
		"仅含已付款订单。出具时间："+s.IssuedAt, "", "L", false)
	var out bytes.Buffer
	if err := pdf.Output(&out); err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	return out.Bytes(), nil
}
