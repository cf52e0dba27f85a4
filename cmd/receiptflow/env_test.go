package main

import (
	"bytes"
	"strings"
	"testing"
	"text/template"

	"github.com/kelseyhightower/envconfig"

	"github.com/receiptflow/receiptflow/config"
)

// receiptflow env describes every variable, under one header.
func TestEnvDescribesEveryVariable(t *testing.T) {
	var out bytes.Buffer
	if err := printEnv(&out); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "VARIABLE") != 1 || !strings.HasPrefix(out.String(), "VARIABLE") {
		t.Fatalf("want one header first:\n%s", out.String())
	}
	tmpl := template.Must(template.New("rows").Parse("{{range .}}{{.Key}}|{{.Tags.Get \"desc\"}}\n{{end}}"))
	var rows bytes.Buffer
	for _, spec := range []any{&config.Config{}, &devSettings{}} {
		if err := envconfig.Usaget(config.Prefix, spec, &rows, tmpl); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, row := range strings.Split(strings.TrimSpace(rows.String()), "\n") {
		key, desc, _ := strings.Cut(row, "|")
		if strings.TrimSpace(desc) == "" {
			t.Errorf("%s has no description", key)
		}
		if !strings.Contains(out.String(), key) {
			t.Errorf("%s is not listed", key)
		}
		n++
	}
	if n < 60 {
		t.Fatalf("only %d variables", n)
	}
	const terminal = 100 // columns; fixed here, not read from envWidth, so widening the wrap fails the test
	for _, line := range strings.Split(out.String(), "\n") {
		if columns(line) > terminal && !strings.HasPrefix(line, config.Prefix) {
			t.Errorf("a line of %d columns, wider than a terminal: %s", columns(line), line)
		}
	}
}
