package statement

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

const testFont = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"

// A statement is a real one-page PDF; without a font it says what is missing.
func TestPDF(t *testing.T) {
	if _, err := PDF(Statement{Year: 2026}, nil); !errors.Is(err, ErrNoFont) {
		t.Fatalf("without a font: %v", err)
	}
	font, err := os.ReadFile(testFont)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s: %v (.ci/run installs fonts-droid-fallback)", testFont, err)
		}
		t.Skipf("no CJK font here: %v", err)
	}
	s := Statement{Year: 2026, Name: "李*", IDNumber: "1101**********0019", Platform: "示例灵活用工平台",
		Months:   []Month{{Period: "2026-11", Orders: 2, GrossFen: 600000, TaxFen: 96000, NetFen: 504000}},
		GrossFen: 600000, TaxFen: 96000, NetFen: 504000, IssuedAt: "2026-11-24 12:00"}
	out, err := PDF(s, font)
	if err != nil || !bytes.HasPrefix(out, []byte("%PDF-1.")) || !bytes.Contains(out, []byte("%%EOF")) || bytes.Count(out, []byte("/Type /Page\n")) != 1 {
		t.Fatalf("pdf: %v, %d bytes", err, len(out))
	}
}
