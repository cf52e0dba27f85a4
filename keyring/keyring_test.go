package keyring

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpenRoundTripAndRotation(t *testing.T) {
	oldSpec := Generate("k1")
	old, err := Parse(oldSpec)
	if err != nil {
		t.Fatal(err)
	}
	id, sealed := old.Seal([]byte("张三"), []byte("payee/1"))
	if id != "k1" || bytes.Contains(sealed, []byte("张三")) {
		t.Fatalf("seal leaked plaintext or wrong id %q", id)
	}
	// Rotate: a new primary in front, the old key kept for reading.
	rotated, err := Parse(Generate("k2") + "," + oldSpec)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := rotated.Open(id, sealed, []byte("payee/1"))
	if err != nil || string(plain) != "张三" {
		t.Fatalf("rotated ring cannot open old data: %q %v", plain, err)
	}
	if newID, _ := rotated.Seal([]byte("x"), nil); newID != "k2" || rotated.PrimaryID() != "k2" {
		t.Fatalf("rotated ring seals with %s", newID)
	}
	if _, err := old.Open("k2", sealed, nil); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestOpenRejectsTamperingWrongAADAndTruncation(t *testing.T) {
	r, _ := Parse(Generate("k"))
	id, sealed := r.Seal([]byte("310101199801011234"), []byte("a"))
	if _, err := r.Open(id, sealed, []byte("b")); err == nil {
		t.Error("opened with the wrong associated data")
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		if _, err := r.Open(id, bad, []byte("a")); err == nil {
			t.Fatalf("opened with byte %d flipped", i)
		}
	}
	for n := 0; n < len(sealed); n++ {
		if _, err := r.Open(id, sealed[:n], []byte("a")); err == nil {
			t.Fatalf("opened a %d-byte truncation", n)
		}
	}
}

func TestStringForm(t *testing.T) {
	r, _ := Parse(Generate("k"))
	v := r.SealString("张三", "payee:1:name")
	if got, err := r.OpenString(v, "payee:1:name"); err != nil || got != "张三" {
		t.Fatalf("OpenString = %q, %v", got, err)
	}
	if _, err := r.OpenString(v, "payee:2:name"); err == nil {
		t.Error("value moved to another row still opens")
	}
	for _, bad := range []string{"", "k", "k.!!!", "zz." + v[2:]} {
		if _, err := r.OpenString(bad, "payee:1:name"); err == nil {
			t.Errorf("OpenString(%q) succeeded", bad)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, spec := range []string{"", "nokey", "k:notbase64!", "k:AAAA", "bad id:" + Generate("x")[2:], Generate("a") + "," + Generate("a")} {
		if _, err := Parse(spec); err == nil {
			t.Errorf("Parse(%q) accepted", spec)
		}
	}
}
