package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/receiptflow/receiptflow/keyring"
)

// Files keeps files by their content: a file's name is its SHA-256, so writing one twice is the same file and a
// read that does not match its name is refused. Files are sealed at rest like the exports (an electronic receipt
// names the payee): AES-256-GCM under the PII key ring, bound to the file's name.
type Files struct {
	dir  string
	seal *keyring.Ring
}

// NewFiles keeps files under dir (created when missing), sealed with ring.
func NewFiles(dir string, ring *keyring.Ring) (*Files, error) {
	if ring == nil {
		return nil, errors.New("files: a key ring is needed to seal files")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	return &Files{dir: dir, seal: ring}, nil
}

// sealedMagic starts a sealed file: then the key ID, a newline, and nonce||ciphertext.
var sealedMagic = []byte("receiptflow-sealed-v1\n")

var sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ErrFileCorrupt: a kept file no longer matches its hash.
var ErrFileCorrupt = errors.New("files: content does not match its hash")

func (f *Files) path(sum string) string { return filepath.Join(f.dir, sum[:2], sum) }

// Put writes content (atomically) and returns its SHA-256 (hex).
func (f *Files) Put(content []byte) (string, error) {
	raw := sha256.Sum256(content)
	sum := hex.EncodeToString(raw[:])
	p := f.path(sum)
	if _, err := os.Stat(p); err == nil {
		return sum, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), sum+".tmp*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	keyID, sealed := f.seal.Seal(content, []byte("file:"+sum))
	if _, err := tmp.Write(append(append(append(append([]byte{}, sealedMagic...), keyID...), '\n'), sealed...)); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return sum, os.Rename(tmp.Name(), p)
}

// Get reads the file named sum and checks it still is what its name says.
func (f *Files) Get(sum string) ([]byte, error) {
	if !sha256Pattern.MatchString(sum) {
		return nil, fmt.Errorf("files: bad name %q", sum)
	}
	content, err := os.ReadFile(f.path(sum))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("files: %s: %w", sum, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	// A file kept before files were sealed is read as it is; its name still checks it.
	if rest, ok := bytes.CutPrefix(content, sealedMagic); ok {
		keyID, sealed, found := bytes.Cut(rest, []byte("\n"))
		if !found {
			return nil, ErrFileCorrupt
		}
		if content, err = f.seal.Open(string(keyID), sealed, []byte("file:"+sum)); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFileCorrupt, err)
		}
	}
	if raw := sha256.Sum256(content); hex.EncodeToString(raw[:]) != sum {
		return nil, ErrFileCorrupt
	}
	return content, nil
}
