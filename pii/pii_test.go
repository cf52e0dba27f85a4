package pii

import (
	"errors"
	"testing"
	"time"
)

func TestValidateIDNumber(t *testing.T) {
	valid := []string{
		"310101199801011232",
		"11010519491231002X",
		"11010519491231002x", // lower-case x is normalized
	}
	for _, id := range valid {
		if err := ValidateIDNumber(id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	invalid := map[string]error{
		"310101199801011234":  ErrIDChecksum, // WeChat's cert_hash example is not a valid number
		"31010119980101123":   ErrIDFormat,
		"3101011998010112345": ErrIDFormat,
		"31010119980101123A":  ErrIDFormat,
		"3101011998A101123X":  ErrIDFormat,
		"310101199813011234":  ErrIDBirth, // month 13
		"310101180001011234":  ErrIDBirth,
	}
	for id, want := range invalid {
		if err := ValidateIDNumber(id); !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", id, err, want)
		}
	}
}

func TestAge(t *testing.T) {
	b, _ := BirthDate("310101199801011234")
	for _, c := range []struct {
		day  time.Time
		want int
	}{
		{time.Date(2015, 12, 31, 0, 0, 0, 0, time.UTC), 17},
		{time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC), 18},
		{time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), 28},
	} {
		if got := AgeOn(b, c.day); got != c.want {
			t.Errorf("AgeOn(%s) = %d, want %d", c.day.Format("2006-01-02"), got, c.want)
		}
	}
	leap := time.Date(2000, 3, 1, 0, 0, 0, 0, time.UTC)
	if got := AgeOn(leap, time.Date(2001, 2, 28, 0, 0, 0, 0, time.UTC)); got != 0 {
		t.Errorf("day before birthday in a later year: %d", got)
	}
}

func TestMasks(t *testing.T) {
	for in, want := range map[string]string{"张三": "张*", "欧阳娜娜": "欧***", "": ""} {
		if got := MaskName(in); got != want {
			t.Errorf("MaskName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := MaskIDNumber("310101199801011234"); got != "3101**********1234" {
		t.Errorf("MaskIDNumber = %q", got)
	}
	if got := MaskOpenID("oABCDEFGHIJKLMN1234"); got != "oABC…1234" {
		t.Errorf("MaskOpenID = %q", got)
	}
	if got := MaskOpenID("short"); got != "*****" {
		t.Errorf("MaskOpenID short = %q", got)
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"张三", "欧阳娜娜", "阿卜杜·热合曼", "买买提•艾力", "John O'Neil", "Anna-Maria Smith", "J. R. Tolkien"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	// The security round's formula names, a right-to-left override, zero-width characters, symbols.
	for _, bad := range []string{"", "张", " 张三", "张三3", "张\n三", "=cmd|'/C calc'!A", "+SUM(A:A)", "@SUM(A:A)", "-2+3",
		"张\u202e三", "张\u200b三", "张\u200d三", "张\ufeff三", "张\u2060三", "张三;", "<b>张三</b>", "张·", "·张三"} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestHasher(t *testing.T) {
	if _, err := NewHasher([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
	h1, _ := NewHasher([]byte("0123456789abcdef"))
	h2, _ := NewHasher([]byte("fedcba9876543210"))
	if h1.IDNumber("11010519491231002x") != h1.IDNumber("11010519491231002X") {
		t.Error("normalization not applied before hashing")
	}
	if h1.IDNumber("310101199801011234") == h2.IDNumber("310101199801011234") {
		t.Error("hash does not depend on the key")
	}
	if h1.IDNumber("abc") == h1.Token("abc") {
		t.Error("hash domains collide")
	}
}

func TestWithCheckDigit(t *testing.T) {
	for _, id := range []string{"310101199801011232", "11010519491231002X"} {
		if got := WithCheckDigit(id[:17]); got != id {
			t.Errorf("WithCheckDigit(%s) = %s, want %s", id[:17], got, id)
		}
	}
}
