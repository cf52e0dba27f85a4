// Package keyring seals data with AES-256-GCM under named keys so keys can rotate: the newest key seals, every key
// in the ring still opens what it sealed.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Ring is safe for concurrent use.
type Ring struct {
	primary string
	aeads   map[string]cipher.AEAD
}

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// ErrUnknownKey is returned when sealed data names a key the ring does not hold.
var ErrUnknownKey = errors.New("keyring: unknown key id")

// Parse reads "id:base64key[,id:base64key...]"; the first key is the primary (sealing) key. Keys are 32 bytes.
func Parse(spec string) (*Ring, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("keyring: no keys configured")
	}
	r := &Ring{aeads: map[string]cipher.AEAD{}}
	for i, part := range strings.Split(spec, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("keyring: entry %d: want id:base64key with id of [A-Za-z0-9_-]{1,32}", i+1)
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("keyring: key %q: want 32 bytes in standard base64", id)
		}
		if _, dup := r.aeads[id]; dup {
			return nil, fmt.Errorf("keyring: key %q listed twice", id)
		}
		aead, err := newAEAD(key)
		if err != nil {
			return nil, err
		}
		r.aeads[id] = aead
		if i == 0 {
			r.primary = id
		}
	}
	return r, nil
}

// Generate returns a spec for a ring with one fresh random key, for development set-ups.
func Generate(id string) string {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return id + ":" + base64.StdEncoding.EncodeToString(key)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// PrimaryID names the key Seal uses.
func (r *Ring) PrimaryID() string { return r.primary }

// Seal encrypts plaintext under the primary key, binding aad; the result is nonce||ciphertext.
func (r *Ring) Seal(plaintext, aad []byte) (keyID string, sealed []byte) {
	aead := r.aeads[r.primary]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return r.primary, aead.Seal(nonce, nonce, plaintext, aad)
}

// Open decrypts what Seal produced under keyID. Truncated or tampered input is an error.
func (r *Ring) Open(keyID string, sealed, aad []byte) ([]byte, error) {
	aead, ok := r.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, keyID)
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("keyring: sealed data too short")
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, errors.New("keyring: authentication failed")
	}
	return plain, nil
}

// SealString packs keyID and sealed bytes into one printable value, for database columns: "<id>.<base64>".
func (r *Ring) SealString(plaintext string, aad string) string {
	id, sealed := r.Seal([]byte(plaintext), []byte(aad))
	return id + "." + base64.RawStdEncoding.EncodeToString(sealed)
}

// OpenString reverses SealString.
func (r *Ring) OpenString(value string, aad string) (string, error) {
	id, b64, ok := strings.Cut(value, ".")
	if !ok {
		return "", errors.New("keyring: malformed sealed value")
	}
	sealed, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil {
		return "", errors.New("keyring: malformed sealed value")
	}
	plain, err := r.Open(id, sealed, []byte(aad))
	return string(plain), err
}
