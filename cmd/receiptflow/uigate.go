package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/receiptflow/receiptflow/api"
	"github.com/receiptflow/receiptflow/config"
)

// runUIGate serves the operators' sign-in in front of a Temporal Web UI (compose's temporal-ui, which has no login
// of its own): signed-in operators reach the UI, whose payloads decode through the API's /codec with their token.
func runUIGate(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	operators, err := cfg.Operators()
	if err != nil {
		return err
	}
	if len(operators) == 0 {
		return fmt.Errorf("RECEIPTFLOW_OPERATOR_TOKENS is empty: no one could sign in")
	}
	upstream, err := url.Parse(cfg.UIGate.Upstream)
	if err != nil || upstream.Host == "" {
		return fmt.Errorf("RECEIPTFLOW_UI_UPSTREAM: want the Web UI's URL, got %q", cfg.UIGate.Upstream)
	}
	codec, err := url.Parse(cfg.UIGate.CodecURL)
	if err != nil || codec.Host == "" {
		return fmt.Errorf("RECEIPTFLOW_UI_CODEC_URL: want the API's /codec URL, got %q", cfg.UIGate.CodecURL)
	}
	gate := api.NewUIGate(api.UIGateOptions{UI: httputil.NewSingleHostReverseProxy(upstream), Codec: codec,
		Operators: api.NewOperators(operators), Hosts: cfg.UIGate.Hosts, Secure: cfg.UIGate.CookieSecure,
		SessionTTL: cfg.UIGate.SessionTTL, Logger: logger})
	l, err := net.Listen("tcp", hostPort(cfg.HTTPHost, cfg.UIPort))
	if err != nil {
		return fmt.Errorf("listen (RECEIPTFLOW_HTTP_HOST/RECEIPTFLOW_UI_PORT): %w", err)
	}
	logger.Info("ui-gate listening", "addr", l.Addr().String(), "ui", upstream.String())
	return serveHTTP(ctx, l, gate, 10*time.Second)
}
