package sandbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
)

// stateFile keeps a sandbox's state across restarts (dev). Nothing the sandbox answers may be forgotten by a kill
// -9 — real WeChat never forgets a bill it accepted or a face it verified — so an answer is sent only once every
// change made before it is on disk (Sandbox.ServeHTTP waits with synced).
//
// The state is a snapshot (path, the whole value as JSON) and a journal beside it (path + ".journal"): each change
// names the entry it changed (a collection — a map field of the value, by its JSON name, or "" for a value that is
// itself a map — and a key), and is written as that entry's new JSON, appended to the journal and synced. A write
// costs what changed, not the whole state: in a bench of 800 receipts, rewriting the whole file on each change had
// cost 4 % of the process's CPU, and it grew with every login code and bill. Once the journal outgrows the
// snapshot, the snapshot is written again and the journal emptied. Writes are group-committed: one writer runs
// while changes gather, and every answer waiting meanwhile is covered by its next write.
type stateFile struct {
	path  string
	owner sync.Locker // guards value; held while entries of it are marshalled
	value any         // a pointer to a map, or to a struct of maps

	mu       sync.Mutex
	done     *sync.Cond            // signalled after each write
	pending  map[stateKey]struct{} // entries changed since the writer last took them
	changes  uint64                // changes noted so far
	written  uint64                // changes on disk
	writing  bool                  // the writer runs
	writeErr error                 // the last write's

	journal      *os.File
	journalSize  int64
	snapshotSize int64
}

// stateKey names an entry of the state: a collection and a key in it.
type stateKey struct{ collection, key string }

// journalLine is one journalled change: the entry's JSON as it became, null when it was removed.
type journalLine struct {
	C string          `json:"c"`
	K string          `json:"k"`
	V json.RawMessage `json:"v"`
}

// minSnapshot is the journal's size below which the snapshot is never rewritten.
const minSnapshot = 64 << 10

func newStateFile(path string, owner sync.Locker, value any) (*stateFile, error) {
	f := &stateFile{path: path, owner: owner, value: value, pending: map[stateKey]struct{}{}}
	f.done = sync.NewCond(&f.mu)
	if path == "" {
		return f, nil
	}
	if err := f.load(); err != nil {
		return nil, err
	}
	var err error
	if f.journal, err = os.OpenFile(path+".journal", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	// A line a crash cut short goes, so the next change starts a line of its own.
	if err := f.journal.Truncate(f.journalSize); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return f, nil
}

// readState reads the state kept in path into value, as a start would find it, without taking the files over
// (nothing is truncated, nothing is left open): for checks made from outside the sandbox's process.
func readState(path string, value any) error { return (&stateFile{path: path, value: value}).load() }

// load reads the snapshot, then replays the journal over it. Each change is a line ended by a newline, written and
// synced before its answer was sent: what follows the last newline was cut short by a crash, its answer never
// sent, and is dropped (journalSize ends before it). The snapshot being written again may have been renamed into
// place before the journal it covers was emptied, which is harmless: each line sets an entry to a value the
// snapshot holds.
func (f *stateFile) load() error {
	if err := f.replay(); err != nil {
		return fmt.Errorf("sandbox: %s: %w", f.path, err)
	}
	return nil
}

func (f *stateFile) replay() error {
	raw, err := os.ReadFile(f.path)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, f.value); err != nil {
			return err
		}
		f.snapshotSize = int64(len(raw))
	case !os.IsNotExist(err):
		return err
	}
	raw, err = os.ReadFile(f.path + ".journal")
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	complete := raw[:bytes.LastIndexByte(raw, '\n')+1]
	f.journalSize = int64(len(complete))
	for i, l := range bytes.Split(bytes.TrimSuffix(complete, []byte("\n")), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var line journalLine
		err := json.Unmarshal(l, &line)
		if err == nil {
			err = f.apply(line)
		}
		if err != nil {
			return fmt.Errorf("journal line %d: %w", i+1, err)
		}
	}
	return nil
}

// collection is the map a collection name stands for in the value.
func (f *stateFile) collection(name string) (reflect.Value, error) {
	v := reflect.ValueOf(f.value).Elem()
	if v.Kind() == reflect.Map && name == "" {
		return v, nil
	}
	if v.Kind() == reflect.Struct {
		t := v.Type()
		for i := range t.NumField() {
			if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); tag == name && v.Field(i).Kind() == reflect.Map {
				return v.Field(i), nil
			}
		}
	}
	return reflect.Value{}, fmt.Errorf("no collection %q in the state", name)
}

func (f *stateFile) apply(line journalLine) error {
	m, err := f.collection(line.C)
	if err != nil {
		return err
	}
	if m.IsNil() {
		m.Set(reflect.MakeMap(m.Type()))
	}
	key := reflect.ValueOf(line.K).Convert(m.Type().Key())
	if string(line.V) == "null" {
		m.SetMapIndex(key, reflect.Value{})
		return nil
	}
	elem := reflect.New(m.Type().Elem())
	if err := json.Unmarshal(line.V, elem.Interface()); err != nil {
		return err
	}
	m.SetMapIndex(key, elem.Elem())
	return nil
}

// entry is the journal line of an entry as it is now; the owner's lock is held.
func (f *stateFile) entry(k stateKey) ([]byte, error) {
	m, err := f.collection(k.collection)
	if err != nil {
		return nil, err
	}
	v := []byte("null")
	if e := m.MapIndex(reflect.ValueOf(k.key).Convert(m.Type().Key())); e.IsValid() {
		if v, err = json.Marshal(e.Interface()); err != nil {
			return nil, err
		}
	}
	line, err := json.Marshal(journalLine{C: k.collection, K: k.key, V: v})
	return append(line, '\n'), err
}

// changed notes that the entry key of collection changed (or was removed); the owner's lock is held. The writer
// is started if it does not run.
func (f *stateFile) changed(collection, key string) {
	if f.path == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes++
	f.pending[stateKey{collection, key}] = struct{}{}
	if !f.writing {
		f.writing = true
		go f.write()
	}
}

// write writes the changed entries until none is left unwritten. The entries and the count of changes they cover
// are taken under the owner's lock, so a write never claims a change it does not hold; when the journal has
// outgrown the snapshot, the snapshot is marshalled under the same lock, so it holds exactly what the journal does.
func (f *stateFile) write() {
	for {
		f.owner.Lock()
		f.mu.Lock()
		keys, covers := f.pending, f.changes
		f.pending = map[stateKey]struct{}{}
		f.mu.Unlock()
		var lines, snapshot []byte
		var err error
		for k := range keys {
			var line []byte
			if line, err = f.entry(k); err != nil {
				break
			}
			lines = append(lines, line...)
		}
		compact := f.journalSize+int64(len(lines)) > max(f.snapshotSize, minSnapshot)
		if err == nil && compact {
			snapshot, err = json.Marshal(f.value)
		}
		f.owner.Unlock()
		if err == nil {
			err = f.appendJournal(lines)
		}
		if err == nil && compact {
			err = f.rewriteSnapshot(snapshot)
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

func (f *stateFile) appendJournal(lines []byte) error {
	if _, err := f.journal.Write(lines); err != nil {
		return err
	}
	f.journalSize += int64(len(lines))
	return f.journal.Sync()
}

// rewriteSnapshot replaces the snapshot, then empties the journal it now holds.
func (f *stateFile) rewriteSnapshot(snapshot []byte) error {
	if err := writeSynced(f.path, snapshot); err != nil {
		return err
	}
	f.snapshotSize = int64(len(snapshot))
	if err := f.journal.Truncate(0); err != nil {
		return err
	}
	f.journalSize = 0
	return f.journal.Sync()
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

// close waits for the last write and closes the journal.
func (f *stateFile) close() error {
	err := f.synced()
	if f.journal != nil {
		if cerr := f.journal.Close(); err == nil {
			err = cerr
		}
	}
	return err
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
