// Package sheet writes the tables operators download — the withholding filing, the quarterly report — as CSV and
// as XLSX (excelize), with every cell a spreadsheet would run as a formula neutralised, whatever its source: a
// payee's name is typed by the payee.
package sheet

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"regexp"
	"strconv"

	"github.com/xuri/excelize/v2"
)

// Table is a header and its rows.
type Table struct {
	Name   string // the XLSX sheet's name
	Header []string
	Rows   [][]string
}

// number is a plain decimal: an amount or a count, safe as it is (a negative amount starts with '-' and is not a
// formula), and written as a number in XLSX.
var number = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// Safe is the cell as a spreadsheet may show it: text that starts with = + - @, a tab or a carriage return is
// prefixed with ' so that Excel, WPS and LibreOffice read it as text, never as a formula or a DDE call (OWASP's
// advice on CSV injection). Plain numbers pass unchanged.
func Safe(cell string) string {
	if cell == "" || number.MatchString(cell) {
		return cell
	}
	switch cell[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + cell
	}
	return cell
}

// CSV writes the table as UTF-8 with a BOM (what the withholding client and spreadsheets read as UTF-8).
func CSV(t Table) []byte {
	var buf bytes.Buffer
	buf.WriteString("\ufeff")
	w := csv.NewWriter(&buf)
	_ = w.Write(safeRow(t.Header))
	for _, r := range t.Rows {
		_ = w.Write(safeRow(r))
	}
	w.Flush()
	return buf.Bytes()
}

func safeRow(r []string) []string {
	out := make([]string, len(r))
	for i, c := range r {
		out[i] = Safe(c)
	}
	return out
}

// XLSX writes the table as one sheet: numbers as numbers, everything else as text (never as a formula).
func XLSX(t Table) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	name := t.Name
	if name == "" {
		name = "Sheet1"
	}
	if err := f.SetSheetName("Sheet1", name); err != nil {
		return nil, err
	}
	// Amounts keep their two decimals on screen (built-in format 2, "0.00"), as the CSV writes them.
	yuan, err := f.NewStyle(&excelize.Style{NumFmt: 2})
	if err != nil {
		return nil, err
	}
	widths := make([]int, len(t.Header))
	for i, row := range append([][]string{t.Header}, t.Rows...) {
		for j, cell := range row {
			ref, err := excelize.CoordinatesToCellName(j+1, i+1)
			if err != nil {
				return nil, err
			}
			if j < len(widths) {
				widths[j] = max(widths[j], displayWidth(cell))
			}
			if i > 0 && number.MatchString(cell) && len(cell) < 16 {
				v, _ := strconv.ParseFloat(cell, 64)
				err = f.SetCellFloat(name, ref, v, decimals(cell), 64)
				if err == nil && decimals(cell) == 2 {
					err = f.SetCellStyle(name, ref, ref, yuan)
				}
			} else {
				// SetCellStr stores a string cell: a spreadsheet shows it, never evaluates it. The ' keeps a copy
				// pasted elsewhere (or saved back as CSV) harmless too.
				err = f.SetCellStr(name, ref, Safe(cell))
			}
			if err != nil {
				return nil, fmt.Errorf("sheet: %s: %w", ref, err)
			}
		}
	}
	for j, w := range widths {
		col, _ := excelize.ColumnNumberToName(j + 1)
		if err := f.SetColWidth(name, col, col, float64(min(w, 40)+2)); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func decimals(cell string) int {
	for i := range cell {
		if cell[i] == '.' {
			return len(cell) - i - 1
		}
	}
	return 0
}

// displayWidth is how many columns a cell takes on screen: a CJK character takes two.
func displayWidth(cell string) int {
	w := 0
	for _, r := range cell {
		if r >= 0x1100 {
			w += 2
		} else {
			w++
		}
	}
	return w
}
