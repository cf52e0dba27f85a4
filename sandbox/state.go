package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// stateFile keeps a sandbox's state in a JSON file across restarts (dev): a change schedules a write a moment
// later, so a burst of calls costs one write, and Flush writes what is pending (at shutdown).
type stateFile struct {
	path  string
	owner sync.Locker // guards value; held while the value is marshalled
	value any

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
	tmp := f.path + ".tmp"
	if os.WriteFile(tmp, raw, 0o600) == nil {
		_ = os.Rename(tmp, f.path)
	}
}
