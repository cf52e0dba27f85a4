//go:build !nodev

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/receiptflow/receiptflow/api"
	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/internal/bench"
	"github.com/receiptflow/receiptflow/store"
)

// chaosTopology is a running deploy/local/run topology (up --detach --dir DIR): PostgreSQL, Temporal, the
// sandbox, workers and APIs as separate processes. Calls go to its APIs in turn; a crash is kill -9 of one of
// them (PostgreSQL: an immediate stop, which is a crash to it: no checkpoint, recovery on start) and its start
// again through the script.
type chaosTopology struct {
	dir, script string
	env         map[string]string // DIR/topology.env
	apis        []string
	processes   []string // what a crash may hit
	next        atomic.Int64
	payerSecret string
	runID       int64 // this run's number (its start, in seconds): payees and orders of earlier runs stay theirs
	seq         atomic.Int64
}

const chaosPayer = "chaos-payer"

var chaosPayerAccount = map[string]string{"name": "混沌测试科技有限公司", "number": "6222020200998877665"}

func attachTopology(ctx context.Context, o chaosOptions) (*chaosTopology, error) {
	dir := o.Topology
	env, err := readEnvFile(filepath.Join(dir, "topology.env"))
	if err != nil {
		return nil, fmt.Errorf("--topology %s: %w (start it with deploy/local/run up --detach --dir %s)", dir, err, dir)
	}
	t := &chaosTopology{dir: dir, env: env, script: filepath.Join("deploy", "local", "run"), runID: time.Now().Unix()}
	if _, err := os.Stat(t.script); err != nil {
		return nil, fmt.Errorf("--topology: run chaos from the repository's root (it kills and starts processes with %s): %w", t.script, err)
	}
	for i := 1; env[fmt.Sprintf("API%d_URL", i)] != ""; i++ {
		t.apis = append(t.apis, env[fmt.Sprintf("API%d_URL", i)])
		t.processes = append(t.processes, fmt.Sprintf("api%d", i))
	}
	for i := 1; env[fmt.Sprintf("WORKER%d_URL", i)] != ""; i++ {
		t.processes = append(t.processes, fmt.Sprintf("worker%d", i))
	}
	t.processes = append(t.processes, "temporal", "postgres", "sandbox")
	if len(t.apis) == 0 {
		return nil, fmt.Errorf("--topology %s: no API in topology.env", dir)
	}
	// The sandbox takes --faults from this process's environment, now and at every start after a kill.
	for _, kv := range o.sandboxFaults() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	if err := t.run("restart", "sandbox"); err != nil {
		return nil, err
	}
	if err := waitUp(ctx, t.sandbox()+"/sandbox/merchant/hooks", time.Minute); err != nil {
		return nil, err
	}
	// The run's payer: registered (or its secret rotated, when a run before registered it) by an operator.
	var created struct{ Secret string }
	err = t.ops(ctx, http.MethodPut, "/v1/ops/payers/"+chaosPayer, map[string]any{"name": chaosPayerAccount["name"], "account": chaosPayerAccount}, &created)
	if err == nil && created.Secret == "" { // registered by an earlier run: its secret is shown only once
		err = t.ops(ctx, http.MethodPost, "/v1/ops/payers/"+chaosPayer+"/secret", nil, &created)
	}
	if err != nil {
		return nil, fmt.Errorf("registering the run's payer: %w", err)
	}
	t.payerSecret = created.Secret
	return t, nil
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env, sc.Err()
}

func (t *chaosTopology) api() string           { return t.apis[int(t.next.Add(1))%len(t.apis)] }
func (t *chaosTopology) sandbox() string       { return t.env["SANDBOX_URL"] }
func (t *chaosTopology) operatorToken() string { return t.env["OPERATOR_TOKEN"] }
func (t *chaosTopology) stop()                 {} // the topology is the caller's: deploy/local/run down --dir DIR

// ops is one operator call to the first API, outside a run's retries (attach).
func (t *chaosTopology) ops(ctx context.Context, method, path string, body, out any) error {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, method, t.apis[0]+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+t.operatorToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, answer)
	}
	return json.Unmarshal(answer, out)
}

// seed onboards a payee as the mini-program does — login, session, real name, the payer's agreement — and the
// merchant's signed order for them, funded from the payer's registered account. Every payee is a newcomer here: no
// face has bound a typed-in identity yet.
func (t *chaosTopology) seed(ctx context.Context, c *chaos, grossFen int64, _ bool) (string, string, error) {
	n := t.seq.Add(1)
	openid := fmt.Sprintf("o_chaos_%d_%d", t.runID, n)
	token, err := c.session(ctx, openid)
	if err != nil {
		return "", "", err
	}
	id := bench.IDNumber(int(t.runID%500)*2000 + int(n)) // one person per payee, another set per run
	if err := c.call(ctx, http.MethodPost, "/v1/me/identity", token, map[string]string{"name": "李四", "idNumber": id}, nil); err != nil && !strings.Contains(err.Error(), " 409 ") {
		return "", "", err
	}
	if err := c.call(ctx, http.MethodPost, "/v1/me/agreements/"+chaosPayer, token, nil, nil); err != nil && !strings.Contains(err.Error(), " 409 ") {
		return "", "", err
	}
	no := fmt.Sprintf("CHAOS-%d-%d", t.runID, n)
	var o store.Order
	if err := t.merchant(ctx, c, http.MethodPost, "/v1/merchant/orders", "idem-"+no,
		map[string]any{"merchantOrderNo": no, "payeeOpenId": openid, "serviceItem": "delivery", "description": "配送服务费", "grossFen": grossFen}, &o); err != nil {
		return "", "", err
	}
	funding := map[string]any{"amountFen": grossFen, "reference": "BANK-" + no, "remitter": map[string]string{"name": chaosPayerAccount["name"], "account": chaosPayerAccount["number"]}}
	if err := c.call(ctx, http.MethodPost, "/v1/ops/orders/"+o.ID+"/funding", "", funding, nil); err != nil && !strings.Contains(err.Error(), " 409 ") {
		return "", "", err
	}
	return openid, o.ID, nil
}

// merchant is one merchant request, signed afresh for every attempt the run makes of it (the same
// Idempotency-Key, so a retried create is one order).
func (t *chaosTopology) merchant(ctx context.Context, c *chaos, method, path, idemKey string, body, out any) error {
	return c.send(ctx, method, path, body, out, func(req *http.Request, raw []byte) {
		nonce := make([]byte, 12)
		_, _ = rand.Read(nonce)
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("Idempotency-Key", idemKey)
		req.Header.Set(api.HeaderPayer, chaosPayer)
		req.Header.Set(api.HeaderTimestamp, ts)
		req.Header.Set(api.HeaderNonce, hex.EncodeToString(nonce))
		req.Header.Set(api.HeaderSignature, api.SignMerchantRequest(t.payerSecret, method, path, ts, hex.EncodeToString(nonce), raw))
	})
}

// crash kills one of the topology's processes, drawn from rng, starts it again, and waits until every API is
// ready (a worker's own readiness too).
func (t *chaosTopology) crash(ctx context.Context, rng *mrand.Rand) (string, error) {
	name := t.processes[rng.IntN(len(t.processes))]
	if name == "postgres" {
		if err := t.pgCtl("stop", "-m", "immediate"); err != nil {
			return name, err
		}
	} else if err := t.run("kill", name); err != nil {
		return name, err
	}
	time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
	var err error
	if name == "postgres" {
		err = t.pgCtl("start")
	} else {
		err = t.run("start", name)
	}
	if err != nil {
		return name, err
	}
	ready := append([]string{}, t.apis...)
	if strings.HasPrefix(name, "worker") {
		ready = append(ready, t.env[strings.ToUpper(name)+"_URL"])
	}
	for _, base := range ready {
		if err := waitReady(ctx, base, 2*time.Minute); err != nil {
			return name, err
		}
	}
	return name, nil
}

func (t *chaosTopology) run(args ...string) error {
	out, err := exec.Command(t.script, append(args, "--dir", t.dir)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", t.script, strings.Join(args, " "), err, out)
	}
	return nil
}

// pgCtl runs PostgreSQL's pg_ctl as deploy/local/run set it up (DIR/run/pg_ctl, as the postgres user under root;
// its one argument, unquoted there, may carry options).
func (t *chaosTopology) pgCtl(args ...string) error {
	out, err := exec.Command("bash", filepath.Join(t.dir, "run", "pg_ctl"), strings.Join(args, " ")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// settle answers the topology's store configuration (its processes keep running: the books are read on
// PostgreSQL beside them) and the sandbox's bills.
func (t *chaosTopology) settle(context.Context) (config.Config, string, error) {
	env, err := readEnvFile(filepath.Join(t.dir, "receiptflow.env"))
	if err != nil {
		return config.Config{}, "", err
	}
	for k, v := range env {
		os.Setenv(k, v)
	}
	cfg, err := config.Load()
	return cfg, filepath.Join(t.dir, "data", "sandbox", "sandbox-wechatpay.json"), err
}
