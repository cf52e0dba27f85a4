package sandbox

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
)

// stateFile keeps a sandbox's state in a JSON file across restarts (dev). Nothing the sandbox answers may be
// forgotten by a kill -9 — real WeChat never forgets a bill it accepted or a face it verified — so an answer is
// sent only once every change made before it is on disk (Sandbox.ServeHTTP waits with synced). The writes are
// group-committed: one writer marshals the whole state and syncs it while changes gather, and every answer waiting
// meanwhile is covered by the next write, so a burst of calls costs one write, not one each.
type stateFile struct {
	path  string
	owner sync.Locker // guards value; held while the value is marshalled
	value any

	mu       sync.Mutex
	done     *sync.Cond // signalled after each write
	changes  uint64     // changes noted so far
	written  uint64     // changes on disk
	writing  bool       // the writer runs
	writeErr error      // the last write's
}

func newStateFile(path string, owner sync.Locker, value any) (*stateFile, error) {
	f := &stateFile{path: path, owner: owner, value: value}
	f.done = sync.NewCond(&f.mu)
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

// changed notes that the value changed; the owner's lock is held. The writer is started if it does not run.
func (f *stateFile) changed() {
	if f.path == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes++
	if !f.writing {
		f.writing = true
		go f.write()
	}
}

// write writes the value until no change is left unwritten. The count of changes a write covers is read under the
// owner's lock, with the value, so it never claims a change the marshalled value does not hold.
func (f *stateFile) write() {
	for {
		f.owner.Lock()
		raw, err := json.Marshal(f.value)
		f.mu.Lock()
		covers := f.changes
		f.mu.Unlock()
		f.owner.Unlock()
		if err == nil {
			err = writeSynced(f.path, raw)
		}
		f.mu.Lock()
		f.written, f.writeErr = covers, err
		f.done.Broadcast()
		if f.changes == f.written {
			f.writing = false
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
	}
}

// synced waits until every change noted so far is on disk (or its write failed: the sandbox then answers anyway,
// as a machine whose disk fails would, and says so in the error).
func (f *stateFile) synced() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	want := f.changes
	for f.written < want {
		f.done.Wait()
	}
	return f.writeErr
}

// answerAfterSync holds a handler's answer until the state it reports is on disk. A handler that takes the
// connection over (a dropped connection) answers nothing and is let through.
type answerAfterSync struct {
	w        http.ResponseWriter
	header   http.Header
	status   int
	body     []byte
	hijacked bool
}

func (a *answerAfterSync) Header() http.Header { return a.header }
func (a *answerAfterSync) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	a.body = append(a.body, p...)
	return len(p), nil
}
func (a *answerAfterSync) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
}

// Hijack hands the connection over (dropConnection).
func (a *answerAfterSync) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := a.w.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	a.hijacked = true
	return hj.Hijack()
}

// send writes the held answer.
func (a *answerAfterSync) send() {
	if a.hijacked {
		return
	}
	for k, v := range a.header {
		a.w.Header()[k] = v
	}
	if a.status == 0 {
		a.status = http.StatusOK
	}
	a.w.WriteHeader(a.status)
	_, _ = a.w.Write(a.body)
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
