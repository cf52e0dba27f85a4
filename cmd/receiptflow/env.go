package main

import (
	"io"

	"github.com/kelseyhightower/envconfig"

	"github.com/receiptflow/receiptflow/config"
)

// printEnv lists every variable receiptflow reads, with defaults and meanings.
func printEnv(w io.Writer) error {
	var c config.Config
	if err := envconfig.Usagef(config.Prefix, &c, w, envconfig.DefaultTableFormat); err != nil {
		return err
	}
	return printDevEnv(w)
}
