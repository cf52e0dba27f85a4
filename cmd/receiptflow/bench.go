//go:build !nodev

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/receiptflow/receiptflow/api"
	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/internal/bench"
	"github.com/receiptflow/receiptflow/store"
)

// runBench runs the bench command: the dev stack on a temporary data directory, driven by internal/bench.
func runBench(ctx context.Context, args []string, out, errOut io.Writer) error {
	o, err := bench.ParseFlags(args, errOut)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	cfg, err := config.Load() // like dev: keys and tunables set in the environment apply to the bench too
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	dir := o.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "receiptflow-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	cfg.DataDir, cfg.DatabaseURL = dir, o.DatabaseURL
	cfg.HTTPPort, cfg.UIPort, cfg.Temporal.Address = 0, 0, "127.0.0.1:0"
	cfg.PayoutChannel, cfg.FaceMode = o.Channel, o.FaceMode
	cfg.LogLevel = "error"
	logger := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelError}))

	fmt.Fprintf(errOut, "bench: starting the dev stack in %s\n", dir)
	s, err := startStack(ctx, cfg, devSettings{SandboxFaults: o.Faults, apiLimits: benchLimits()}, logger, false)
	if err != nil {
		return err
	}
	defer s.close()
	served := make(chan error, 1)
	serveCtx, stopServing := context.WithCancel(context.Background())
	go func() { served <- s.serve(serveCtx) }()
	defer func() { stopServing(); <-served }()

	if err := s.deps.store.PutPayer(ctx, store.Payer{ID: benchPayer, Name: "示例科技有限公司", Secret: "bench-merchant-secret-0123", Account: demoAccount}); err != nil {
		return err
	}
	return bench.Run(ctx, bench.System{
		APIURL: s.apiURL, SandboxURL: s.sandboxURL, Temporal: s.client,
		HostPort: s.srv.FrontendHostPort(), Namespace: s.cfg.Temporal.Namespace, DataDir: s.cfg.DataDir,
		Seed: func(ctx context.Context, i int, openid string, face bool) (string, error) {
			return seedPayee(ctx, s.deps.store, benchPayer, seededPayee{OpenID: openid, Name: "李四", IDNumber: bench.IDNumber(i),
				MerchantNo: fmt.Sprintf("BENCH-%d", i), GrossFen: 150000, FaceBound: !face})
		},
	}, o, out, errOut)
}

// benchPayer is the payer of every bench order.
const benchPayer = "benchpayer"

// benchLimits are the API's defaults with the per-IP bounds lifted: every simulated payee logs in from 127.0.0.1,
// where real ones come from a phone each. The per-payee bounds stay (each bench payee is one person).
func benchLimits() api.Limits {
	l := api.DefaultLimits
	l.LoginsPerIP = api.Limit{Burst: 1 << 20, PerHour: 1 << 30}
	return l
}
