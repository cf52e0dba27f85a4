package sheet

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/xuri/excelize/v2"
)

// The formulas a payee could type as a name (OWASP's CSV-injection examples and the ones the security round
// tried) reach no file as a formula; numbers and long ID numbers keep their value.
func TestCellsAreNeverFormulas(t *testing.T) {
	for in, want := range map[string]string{
		"=cmd|'/C calc'!A":       "'=cmd|'/C calc'!A",
		"+SUM(A:A)":              "'+SUM(A:A)",
		"@SUM(A:A)":              "'@SUM(A:A)",
		"-2+3+cmd|' /C calc'!A0": "'-2+3+cmd|' /C calc'!A0",
		"\t=1+1":                 "'\t=1+1",
		"\r=1+1":                 "'\r=1+1",
		"张三":                     "张三",
		"-12.50":                 "-12.50",
		"8800.00":                "8800.00",
		"11010519491231002X":     "11010519491231002X",
		"":                       "",
	} {
		if got := Safe(in); got != want {
			t.Errorf("Safe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCSVAndXLSXSayTheSame(t *testing.T) {
	table := Table{Name: "劳务报酬所得", Header: []string{"姓名", "证件号码", "本期收入", "累计连续月份数"},
		Rows: [][]string{{"=cmd|'/C calc'!A", "110101199003070020", "8800.00", "1"}, {"李四", "11010519491231002X", "-12.50", "12"}}}
	raw := CSV(table)
	if !bytes.HasPrefix(raw, []byte("\ufeff")) {
		t.Fatal("no BOM: the withholding client and Excel would read GBK")
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\ufeff")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	book, err := XLSX(table)
	if err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(book))
	if err != nil {
		t.Fatal(err)
	}
	sheet := f.GetSheetName(0)
	if sheet != "劳务报酬所得" {
		t.Fatalf("sheet %q", sheet)
	}
	shown, err := f.GetRows(sheet)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		for j := range rows[i] {
			if rows[i][j] != shown[i][j] {
				t.Errorf("row %d col %d: CSV %q, XLSX shows %q", i, j, rows[i][j], shown[i][j])
			}
			ref, _ := excelize.CoordinatesToCellName(j+1, i+1)
			if formula, _ := f.GetCellFormula(sheet, ref); formula != "" {
				t.Errorf("%s is a formula: %q", ref, formula)
			}
		}
	}
	// Amounts are numbers a spreadsheet can add up; an 18-digit ID number stays text (a number would lose digits).
	isText := func(ref string) bool {
		got, _ := f.GetCellType(sheet, ref)
		return got == excelize.CellTypeSharedString || got == excelize.CellTypeInlineString
	}
	if isText("C2") || isText("D3") || !isText("B2") || !isText("A2") {
		t.Error("amounts and counts must be numbers, ID numbers and names text")
	}
	if raw, _ := f.GetCellValue(sheet, "C3", excelize.Options{RawCellValue: true}); raw != "-12.50" {
		t.Errorf("C3 holds %q, want the number -12.50", raw)
	}
}
