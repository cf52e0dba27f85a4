//go:build nodev

package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/receiptflow/receiptflow/config"
)

// This build (the production image) leaves out the dev command with its embedded Temporal server and sandbox.

type devSettings struct{}

func loadDevSettings() (devSettings, error) { return devSettings{}, nil }

func runDev(context.Context, config.Config, devSettings, *slog.Logger, io.Writer) error {
	return errors.New("this build has no dev command: use go run ./cmd/receiptflow dev from a source checkout")
}

func printDevEnv(io.Writer) error { return nil }

func runBench(context.Context, []string, io.Writer, io.Writer) error {
	return errors.New("this build has no bench command: use go run ./cmd/receiptflow bench from a source checkout")
}

func runSandbox(context.Context, []string, io.Writer, io.Writer, *slog.Logger) error {
	return errors.New("this build has no sandbox command: use go run ./cmd/receiptflow sandbox from a source checkout")
}

func runChaos(context.Context, []string, io.Writer, io.Writer) error {
	return errors.New("this build has no chaos command: use go run ./cmd/receiptflow chaos from a source checkout")
}
