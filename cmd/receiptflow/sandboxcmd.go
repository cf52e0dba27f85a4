//go:build !nodev

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/sandbox"
)

// runSandbox serves the WeChat and WeChat Pay sandbox as its own process, for api and worker processes (staging,
// front-end work, the topology test) to call instead of WeChat. Its keys and state live in its data directory, so
// a restart keeps login codes, face results and bills.
func runSandbox(ctx context.Context, args []string, out, errOut io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(errOut)
	host := fs.String("host", "127.0.0.1", "address to listen on")
	port := fs.Int("port", 8090, "port to listen on (0: any free port)")
	dir := fs.String("data-dir", ".receiptflow-sandbox", "keys and state of this sandbox")
	envFile := fs.String("env-file", "", "also write the RECEIPTFLOW_* settings for api and worker to this file")
	fs.Usage = func() {
		fmt.Fprint(errOut, `usage: receiptflow sandbox [flags]

Serves the WeChat and WeChat Pay sandbox on its own and prints the RECEIPTFLOW_* settings that point an api and a
worker at it. Faults come from RECEIPTFLOW_SANDBOX_FAULT_* as in dev (receiptflow env lists them).

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var dev devSettings
	if err := envconfig.Process(config.Prefix, &dev); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	keys, err := loadSandboxKeys(filepath.Join(abs, "sandbox-keys.json"))
	if err != nil {
		return err
	}
	sb, err := newSandbox(keys, sandbox.Options{Faults: dev.SandboxFaults, TokenTTL: dev.SandboxTokenTTL, Logger: logger,
		StateFile: filepath.Join(abs, "sandbox-wechat.json")}, filepath.Join(abs, "sandbox-wechatpay.json"))
	if err != nil {
		return err
	}
	defer sb.Close()
	l, err := net.Listen("tcp", hostPort(*host, *port))
	if err != nil {
		return fmt.Errorf("port %d for the sandbox is not available (%v): use --port", *port, err)
	}
	url := "http://" + l.Addr().String()
	settings, err := sandboxSettings(sb, keys, url, abs)
	if err != nil {
		return err
	}
	if *envFile != "" {
		if err := os.WriteFile(*envFile, []byte(settings), 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "receiptflow sandbox is serving WeChat and WeChat Pay at %s (data in %s)\n\n", url, abs)
	fmt.Fprintf(out, "Settings for api and worker (RECEIPTFLOW_WECHATPAY_NOTIFY_URL is the api's own address):\n\n%s\n", settings)
	return serveHTTP(ctx, l, sb, 10*time.Second)
}

// sandboxSettings are the RECEIPTFLOW_* lines that point api and worker at this sandbox; the two PEM keys are
// written beside its state, since environment variables carry multi-line values badly.
func sandboxSettings(sb *sandbox.Sandbox, keys sandboxKeys, url, dir string) (string, error) {
	merchantKey, publicKey := filepath.Join(dir, "merchant-key.pem"), filepath.Join(dir, "wechatpay-public-key.pem")
	if err := os.WriteFile(merchantKey, []byte(keys.MerchantKey), 0o600); err != nil {
		return "", err
	}
	pay := sb.Pay()
	if err := os.WriteFile(publicKey, []byte(pay.PublicKeyPEM()), 0o644); err != nil {
		return "", err
	}
	lines := []string{
		"RECEIPTFLOW_WECHAT_BASE_URL=" + url,
		"RECEIPTFLOW_WECHAT_APPID=" + sb.AppID(),
		"RECEIPTFLOW_WECHAT_SECRET=" + sb.Secret(),
		"RECEIPTFLOW_WECHATPAY_BASE_URL=" + url,
		"RECEIPTFLOW_WECHATPAY_MCHID=" + pay.MchID(),
		"RECEIPTFLOW_WECHATPAY_MERCHANT_SERIAL=" + sandboxMerchantSerial,
		"RECEIPTFLOW_WECHATPAY_MERCHANT_KEY_FILE=" + merchantKey,
		"RECEIPTFLOW_WECHATPAY_PUBLIC_KEY_ID=" + pay.PublicKeyID(),
		"RECEIPTFLOW_WECHATPAY_PUBLIC_KEY_FILE=" + publicKey,
		"RECEIPTFLOW_WECHATPAY_APIV3_KEY=" + pay.APIv3Key(),
	}
	return strings.Join(lines, "\n") + "\n", nil
}

// loadSandboxKeys reads the sandbox's keys, generating them on the first start.
func loadSandboxKeys(path string) (sandboxKeys, error) {
	var k sandboxKeys
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		return k, json.Unmarshal(raw, &k)
	case !errors.Is(err, os.ErrNotExist):
		return k, err
	}
	if k, err = generateSandboxKeys(); err != nil {
		return k, err
	}
	raw, _ = json.MarshalIndent(k, "", "  ")
	return k, os.WriteFile(path, raw, 0o600)
}
