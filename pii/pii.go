// Package pii holds what the project knows about a payee's personal data: validating a resident ID number, masking
// names, ID numbers and openids for logs and screens, and keyed hashes that let the store look a person up without
// keeping the number in clear.
package pii

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// GB 11643-1999 check digit: weights of the first 17 digits, then the check character for the sum mod 11.
var (
	idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	idChecks  = "10X98765432"
)

// Errors for ValidateIDNumber, distinct so the API can say which part is wrong.
var (
	ErrIDFormat   = errors.New("ID number must be 17 digits followed by a digit or X")
	ErrIDChecksum = errors.New("ID number check digit does not match")
	ErrIDBirth    = errors.New("ID number carries an impossible birth date")
)

// NormalizeIDNumber upper-cases a trailing x and trims spaces, the form WeChat hashes and we store.
func NormalizeIDNumber(id string) string { return strings.ToUpper(strings.TrimSpace(id)) }

// ValidateIDNumber checks an 18-character resident identity number: format, birth date and GB 11643 checksum.
func ValidateIDNumber(id string) error {
	id = NormalizeIDNumber(id)
	if len(id) != 18 {
		return ErrIDFormat
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := id[i]
		if c < '0' || c > '9' {
			return ErrIDFormat
		}
		sum += int(c-'0') * idWeights[i]
	}
	last := id[17]
	if (last < '0' || last > '9') && last != 'X' {
		return ErrIDFormat
	}
	if _, err := BirthDate(id); err != nil {
		return err
	}
	if idChecks[sum%11] != last {
		return ErrIDChecksum
	}
	return nil
}

// WithCheckDigit completes the first 17 digits of an ID number with their GB 11643 check character: how the sandbox,
// the bench and tests make valid numbers for people who do not exist.
func WithCheckDigit(first17 string) string {
	sum := 0
	for i := 0; i < 17 && i < len(first17); i++ {
		sum += int(first17[i]-'0') * idWeights[i]
	}
	return first17 + string(idChecks[sum%11])
}

// BirthDate reads the birth date encoded in positions 7–14 of an ID number.
func BirthDate(id string) (time.Time, error) {
	if len(id) != 18 {
		return time.Time{}, ErrIDFormat
	}
	d, err := time.Parse("20060102", id[6:14])
	if err != nil || d.Year() < 1900 {
		return time.Time{}, ErrIDBirth
	}
	return d, nil
}

// AgeOn returns the age in whole years on the given day.
func AgeOn(birth, day time.Time) int {
	age := day.Year() - birth.Year()
	if day.Month() < birth.Month() || (day.Month() == birth.Month() && day.Day() < birth.Day()) {
		age--
	}
	return age
}

// ValidateName accepts a real name as an ID card prints it: 2–32 characters, letters (汉字 or another script's)
// and, between them, the separators names use — the middle dot of 少数民族 and transliterated names (· U+00B7,
// • U+2022, ・ U+30FB), a space, a hyphen, an apostrophe or a full stop. Nothing else: no digit, no symbol, so no
// name is a spreadsheet formula (= + - @ | …); no control, bidirectional-override (U+202E) or zero-width character,
// so a name reads as it is.
func ValidateName(name string) error {
	n := utf8.RuneCountInString(name)
	if n < 2 || n > 32 || strings.TrimSpace(name) != name {
		return errors.New("name must be 2 to 32 characters without surrounding spaces")
	}
	first, _ := utf8.DecodeRuneInString(name)
	last, _ := utf8.DecodeLastRuneInString(name)
	if !unicode.IsLetter(first) || !unicode.IsLetter(last) {
		return errors.New("name must begin and end with a letter")
	}
	for _, r := range name {
		switch {
		case unicode.IsLetter(r), strings.ContainsRune(nameSeparators, r):
		case unicode.IsDigit(r):
			return errors.New("name must not contain digits")
		default:
			return fmt.Errorf("name must hold letters and · - ' . or a space only, not U+%04X", r)
		}
	}
	return nil
}

// nameSeparators may stand between the letters of a name.
const nameSeparators = "·•・ -'."

// MaskName keeps the first character: 张三 → 张*, 欧阳娜娜 → 欧***.
func MaskName(name string) string {
	if name == "" {
		return ""
	}
	first, size := utf8.DecodeRuneInString(name)
	return string(first) + strings.Repeat("*", utf8.RuneCountInString(name[size:]))
}

// MaskIDNumber keeps the first and last four characters: 3101**********1234.
func MaskIDNumber(id string) string {
	if len(id) <= 8 {
		return strings.Repeat("*", len(id))
	}
	return id[:4] + strings.Repeat("*", len(id)-8) + id[len(id)-4:]
}

// MaskAccountNumber keeps the last four characters of a bank account number: ************1234.
func MaskAccountNumber(n string) string {
	if len(n) <= 4 {
		return strings.Repeat("*", len(n))
	}
	return strings.Repeat("*", len(n)-4) + n[len(n)-4:]
}

// MaskOpenID keeps enough of an openid to tell two apart in a log line: oAbc…wxyz.
func MaskOpenID(openid string) string {
	if len(openid) <= 8 {
		return strings.Repeat("*", len(openid))
	}
	return openid[:4] + "…" + openid[len(openid)-4:]
}

// Hasher computes keyed lookup hashes: equal inputs give equal hashes, but without the key a hash cannot be
// reversed by enumerating the (small) space of ID numbers.
type Hasher struct{ key []byte }

// NewHasher needs a key of at least 16 bytes.
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < 16 {
		return nil, errors.New("pii: lookup key must be at least 16 bytes")
	}
	return &Hasher{key: key}, nil
}

// IDNumber hashes a normalized ID number.
func (h *Hasher) IDNumber(id string) string { return h.sum("id", NormalizeIDNumber(id)) }

// Token hashes an opaque one-time value (a face verify_result, say) so it can be remembered without being kept.
func (h *Hasher) Token(v string) string { return h.sum("token", v) }

func (h *Hasher) sum(domain, v string) string {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(domain))
	m.Write([]byte{0})
	m.Write([]byte(v))
	return hex.EncodeToString(m.Sum(nil))
}
