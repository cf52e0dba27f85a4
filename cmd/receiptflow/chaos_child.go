//go:build !nodev

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/receiptflow/receiptflow/config"
)

// sandboxFaults is --faults as the sandbox's settings: a quarter each busy, HTTP 5xx, dropped before the call is
// carried out and lost after it (a bill created, its answer never back); and as many calls again answered slowly.
func (o chaosOptions) sandboxFaults() []string {
	f := strconv.FormatFloat(o.Faults/4, 'f', 4, 64)
	env := []string{config.Prefix + "_SANDBOX_FAULT_SLOW_DELAY=1s"}
	for _, kind := range []string{"BUSY", "HTTP_5XX", "DROP", "LOST", "SLOW"} {
		env = append(env, config.Prefix+"_SANDBOX_FAULT_"+kind+"="+f)
	}
	return env
}

// chaosChild is the dev process the run kills and restarts, always on the same ports and data.
type chaosChild struct {
	o                  chaosOptions
	dir, logPath       string
	apiURL, sandboxURL string
	token              string // dev's operator token, from the keys it keeps in its data directory (read once it is up)
	env                []string
	mu                 sync.Mutex
	cmd                *exec.Cmd
}

func (c *chaosChild) api() string           { return c.apiURL }
func (c *chaosChild) sandbox() string       { return c.sandboxURL }
func (c *chaosChild) operatorToken() string { return c.token }

// seed is dev's simulator's seed: a payee of the demo payer with one funded order.
func (c *chaosChild) seed(ctx context.Context, ch *chaos, grossFen int64, newcomer bool) (string, string, error) {
	var seeded struct{ OpenID, OrderID string }
	err := ch.call(ctx, http.MethodPost, "/simulator/seed", "", map[string]any{"grossFen": grossFen, "face": newcomer}, &seeded)
	return seeded.OpenID, seeded.OrderID, err
}

// crash is kill -9 of the whole dev process (Temporal, worker, API, sandbox) and a restart on the same data.
func (c *chaosChild) crash(ctx context.Context, rng *rand.Rand) (string, error) {
	c.kill()
	time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
	return "dev", c.start(ctx)
}

// settle stops dev (the store is its SQLite file) and answers its store's configuration.
func (c *chaosChild) settle(ctx context.Context) (config.Config, string, error) {
	c.halt()
	data := filepath.Join(c.dir, "data")
	keys, err := loadDevKeys(filepath.Join(data, "dev-keys.json"))
	if err != nil {
		return config.Config{}, "", err
	}
	cfg, err := config.Load()
	if err != nil {
		return config.Config{}, "", err
	}
	cfg.DataDir, cfg.DatabaseURL = data, ""
	return keys.apply(cfg), filepath.Join(data, "sandbox-wechatpay.json"), nil
}

func newChaosChild(o chaosOptions, dir string) (*chaosChild, error) {
	var ports []int
	for range 4 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		defer l.Close()
	}
	c := &chaosChild{o: o, dir: dir, logPath: filepath.Join(dir, "dev.log"),
		apiURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), sandboxURL: fmt.Sprintf("http://127.0.0.1:%d", ports[1])}
	c.env = append(os.Environ(), config.Prefix+"_DATA_DIR="+filepath.Join(dir, "data"),
		config.Prefix+"_HTTP_PORT="+strconv.Itoa(ports[0]), config.Prefix+"_SANDBOX_PORT="+strconv.Itoa(ports[1]),
		config.Prefix+"_UI_PORT="+strconv.Itoa(ports[2]), config.Prefix+"_TEMPORAL_ADDRESS=127.0.0.1:"+strconv.Itoa(ports[3]),
		config.Prefix+"_LOG_LEVEL=warn", config.Prefix+"_TRANSFER_POLL_INTERVAL=2s",
		// Deadlines short enough that a payee who walks away is seen to expire within the run:
		config.Prefix+"_FACE_DEADLINE=60s", config.Prefix+"_CONFIRM_DEADLINE=60s")
	c.env = append(c.env, o.sandboxFaults()...)
	return c, nil
}

func (c *chaosChild) start(ctx context.Context) error {
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.o.Binary, "dev")
	cmd.Env, cmd.Stdout, cmd.Stderr = c.env, logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	go func() { _ = cmd.Wait(); logFile.Close() }()
	c.mu.Lock()
	c.cmd = cmd
	c.mu.Unlock()
	if err := waitReady(ctx, c.apiURL, 2*time.Minute); err != nil {
		return fmt.Errorf("dev did not get ready: %w (log: %s)", err, c.logPath)
	}
	if c.token != "" { // a restart: the keys stay
		return nil
	}
	keys, err := loadDevKeys(filepath.Join(c.dir, "data", "dev-keys.json"))
	c.token = keys.OperatorToken
	return err
}

// kill is kill -9: no drain, no flush, nothing said to Temporal or the store.
func (c *chaosChild) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
		for c.cmd.ProcessState == nil && syscall.Kill(c.cmd.Process.Pid, 0) == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// stop stops dev; its data directory goes unless --keep.
func (c *chaosChild) stop() {
	c.halt()
	if !c.o.Keep {
		os.RemoveAll(c.dir)
	}
}

// halt asks dev to stop (SIGINT) and waits for it.
func (c *chaosChild) halt() {
	c.mu.Lock()
	cmd := c.cmd
	c.cmd = nil
	c.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	for deadline := time.Now().Add(30 * time.Second); syscall.Kill(cmd.Process.Pid, 0) == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
		}
	}
}
