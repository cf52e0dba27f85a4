//go:build !nodev

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// lockDataDir holds an exclusive lock on dir for as long as this process runs dev (or bench) on it: a second
// process on the same directory would open the same SQLite files and take over the first one's Temporal shard.
func lockDataDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, "dev.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("RECEIPTFLOW_DATA_DIR: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		raw, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if pid := strings.TrimSpace(string(raw)); pid != "" {
				holder = "process " + pid
			}
			return nil, fmt.Errorf("RECEIPTFLOW_DATA_DIR %s is in use by %s (another receiptflow dev?): stop it, or set RECEIPTFLOW_DATA_DIR to another directory", dir, holder)
		}
		return nil, fmt.Errorf("RECEIPTFLOW_DATA_DIR: lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	var once sync.Once
	return func() { once.Do(func() { _ = f.Truncate(0); f.Close() }) }, nil
}
