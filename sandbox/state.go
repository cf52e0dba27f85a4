package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// stateFile keeps a sandbox's state in a JSON file across restarts (dev). A durable file is written, and synced to
// disk, at every change before the call that made it answers — real WeChat Pay never forgets a bill it accepted, so
// neither may a kill -9 make the sandbox forget one. Otherwise a change schedules a write a moment later, so a burst
// of calls costs one write, and Flush writes what is pending (at shutdown).
type stateFile struct {
	path    string
	owner   sync.Locker // guards value; held while the value is marshalled
	value   any
	durable bool

	mu      sync.Mutex
	pending bool
}

const stateFlushDelay = 200 * time.Millisecond

func newStateFile(path string, owner sync.Locker, value any) (*stateFile, error) {
	f := &stateFile{path: path, owner: owner, value: value}
	if path == "" {
		return f, nil
	}
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return f, nil
	}
	if err == nil {
		err = json.Unmarshal(raw, value)
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: %s: %w", path, err)
	}
	return f, nil
}

// changed notes that the value changed; the owner's lock is held.
func (f *stateFile) changed() {
	if f.path == "" {
		return
	}
	if f.durable {
		if raw, err := json.Marshal(f.value); err == nil {
			_ = writeSynced(f.path, raw)
		}
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.pending {
		f.pending = true
		time.AfterFunc(stateFlushDelay, f.Flush)
	}
}

// Flush writes the value now if a change is pending, atomically (temporary file, then rename).
func (f *stateFile) Flush() {
	f.mu.Lock()
	pending := f.pending
	f.pending = false
	f.mu.Unlock()
	if !pending {
		return
	}
	f.owner.Lock()
	raw, err := json.Marshal(f.value)
	f.owner.Unlock()
	if err != nil {
		return
	}
	_ = writeSynced(f.path, raw)
}

// writeSynced replaces path with raw atomically (a temporary file, synced, then renamed over it, and the
// directory synced): after a crash the file holds the old state or the new, never a torn one.
func writeSynced(path string, raw []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err = f.Write(raw); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
