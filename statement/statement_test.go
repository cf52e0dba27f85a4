package statement

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/image/font/sfnt"
)

// The fonts dev and CI use (Debian's fonts-droid-fallback and fonts-dejavu-core; .ci/run installs them).
const (
	testCJKFont   = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"
	testLatinFont = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
)

func testFonts(t *testing.T) Fonts {
	t.Helper()
	var f Fonts
	for _, c := range []struct {
		path string
		into *[]byte
	}{{testCJKFont, &f.CJK}, {testLatinFont, &f.Latin}} {
		b, err := os.ReadFile(c.path)
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s: %v (.ci/run installs fonts-droid-fallback and fonts-dejavu-core)", c.path, err)
			}
			t.Skipf("no font here: %v", err)
		}
		*c.into = b
	}
	return f
}

var sample = Statement{Year: 2026, Name: "李*", IDNumber: "1101**********0019", Platform: "示例灵活用工平台 Ltd.",
	Months:   []Month{{Period: "2026-11", Orders: 2, GrossFen: 600000, TaxFen: 96000, NetFen: 504000}},
	GrossFen: 600000, TaxFen: 96000, NetFen: 504000, IssuedAt: "2026-11-24 12:00"}

// A statement is a real one-page PDF; without its fonts it says what is missing.
func TestPDF(t *testing.T) {
	if _, err := PDF(sample, Fonts{}); !errors.Is(err, ErrNoFont) {
		t.Fatalf("without fonts: %v", err)
	}
	fonts := testFonts(t)
	if _, err := PDF(sample, Fonts{CJK: fonts.CJK}); !errors.Is(err, ErrNoFont) {
		t.Fatalf("without a Latin font: %v", err)
	}
	out, err := PDF(sample, fonts)
	if err != nil || !bytes.HasPrefix(out, []byte("%PDF-1.")) || !bytes.Contains(out, []byte("%%EOF")) || bytes.Count(out, []byte("/Type /Page\n")) != 1 {
		t.Fatalf("pdf: %v, %d bytes", err, len(out))
	}
}

// What a reader sees: every character of the page — the year, the amounts, the masked ID, the Chinese — is set in a
// font that has a glyph for it. Droid Sans Fallback has no digits or Latin letters: set in it alone, every figure
// of the statement printed as an empty box.
func TestEveryCharacterHasAGlyph(t *testing.T) {
	fonts := testFonts(t)
	parsed := map[string]*sfnt.Font{}
	for name, b := range map[string][]byte{"cjk": fonts.CJK, "latin": fonts.Latin} {
		f, err := sfnt.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		parsed[name] = f
	}
	var buf sfnt.Buffer
	texts := []string{"2026 年度收入明细", "收款人：" + sample.Name + "    证件号码：" + sample.IDNumber, "扣缴义务人：" + sample.Platform,
		"月份", "应发金额（元）", "合计", "6000.00", "960.00", "2026-11", "本明细依据平台代扣代缴记录生成，劳务报酬所得按《国家税务总局公告2025年第16号》累计预扣法或预扣率表二预扣预缴；仅含已付款订单。出具时间：2026-11-24 12:00"}
	for _, text := range texts {
		for _, r := range runs(text) {
			for _, c := range r.text {
				if c == ' ' {
					continue
				}
				if g, err := parsed[r.font].GlyphIndex(&buf, c); err != nil || g == 0 {
					t.Errorf("%q of %q is set in %s, which has no glyph for it", c, text, r.font)
				}
			}
		}
	}
}

// What a reader sees, rendered (poppler's pdftoppm, as a PDF viewer draws it): statements that differ in one digit
// look different. A font without digits draws every one as the same empty box, and the pages come out identical.
func TestDigitsAreDrawn(t *testing.T) {
	fonts := testFonts(t)
	pdftoppm, err := exec.LookPath("pdftoppm")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("pdftoppm missing (.ci/run installs poppler-utils)")
		}
		t.Skip("no pdftoppm here")
	}
	dir := t.TempDir()
	seen := map[string]int{}
	for d := range 10 {
		s := sample
		s.Months = []Month{{Period: "2026-11", Orders: d, GrossFen: 600000, TaxFen: 96000, NetFen: 504000}}
		out, err := PDF(s, fonts)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, fmt.Sprintf("d%d.pdf", d))
		if err := os.WriteFile(file, out, 0o600); err != nil {
			t.Fatal(err)
		}
		page, err := exec.Command(pdftoppm, "-gray", "-r", "60", "-singlefile", file).Output() // PGM on stdout
		if err != nil || !bytes.HasPrefix(page, []byte("P5")) {
			t.Fatalf("render %d: %v", d, err)
		}
		sum := fmt.Sprintf("%x", sha256.Sum256(page))
		if other, ok := seen[sum]; ok {
			t.Fatalf("the statement with %d orders looks the same as the one with %d: the digits are not drawn", d, other)
		}
		seen[sum] = d
	}
}
