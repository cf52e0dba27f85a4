package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/kelseyhightower/envconfig"

	"github.com/receiptflow/receiptflow/config"
)

// envRows is one row per variable; printEnv adds the header once.
const envRows = "{{range .}}{{usage_key .}}\t{{usage_type .}}\t{{usage_default .}}\t{{usage_description .}}\n{{end}}"

// printEnv lists every variable receiptflow reads, with defaults and meanings.
func printEnv(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 1, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tTYPE\tDEFAULT\tMEANING")
	var c config.Config
	if err := envconfig.Usagef(config.Prefix, &c, tw, envRows); err != nil {
		return err
	}
	if err := printDevEnv(tw); err != nil {
		return err
	}
	return tw.Flush()
}
