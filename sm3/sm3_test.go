package sm3

import (
	"encoding/hex"
	"strings"
	"testing"
)

// GB/T 32905-2016 Appendix A: example 1 ("abc", one block) and example 2 ("abcd" × 16, two blocks after padding).
func TestStandardExamples(t *testing.T) {
	for in, want := range map[string]string{
		"abc":                      "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
		strings.Repeat("abcd", 16): "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732",
	} {
		if got := Sum([]byte(in)); hex.EncodeToString(got[:]) != want {
			t.Errorf("SM3(%q) = %x, want %s", in, got, want)
		}
		// Written in pieces, the same.
		h := New()
		for i := range len(in) {
			h.Write([]byte{in[i]})
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			t.Errorf("SM3(%q) byte by byte = %s", in, got)
		}
	}
}

// Every length around the block and padding edges hashes the same in one write or many.
func TestPaddingEdges(t *testing.T) {
	for n := range 200 {
		data := []byte(strings.Repeat("x", n))
		one := Sum(data)
		h := New()
		h.Write(data[:n/3])
		h.Write(data[n/3:])
		if got := h.Sum(nil); string(got) != string(one[:]) {
			t.Fatalf("length %d: split write differs", n)
		}
	}
}
