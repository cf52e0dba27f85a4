package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/kelseyhightower/envconfig"
	"golang.org/x/text/width"

	"github.com/receiptflow/receiptflow/config"
)

// envRows is one tab-separated row per variable; printEnv lays them out.
const envRows = "{{range .}}{{usage_key .}}\t{{usage_type .}}\t{{usage_default .}}\t{{usage_description .}}\n{{end}}"

// envWidth is the terminal width printEnv wraps meanings to.
const envWidth = 100

// printEnv lists every variable receiptflow reads, with defaults and meanings: the variable and its type and
// default on one line, the meaning under it, wrapped for a terminal.
func printEnv(w io.Writer) error {
	var rows bytes.Buffer
	var c config.Config
	if err := envconfig.Usagef(config.Prefix, &c, &rows, envRows); err != nil {
		return err
	}
	if err := printDevEnv(&rows); err != nil {
		return err
	}
	fmt.Fprintln(w, "VARIABLE (type, default)\n    meaning")
	for _, row := range strings.Split(strings.TrimRight(rows.String(), "\n"), "\n") {
		f := strings.SplitN(row, "\t", 4)
		if len(f) != 4 {
			continue
		}
		head := f[0] + " (" + f[1]
		if f[2] != "" {
			head += ", default " + f[2]
		}
		fmt.Fprintf(w, "\n%s)\n", head)
		for _, line := range wrap(f[3], envWidth-4) {
			fmt.Fprintf(w, "    %s\n", line)
		}
	}
	return nil
}

// wrap breaks text into lines at most limit columns wide (a CJK character takes two), at spaces where it can.
func wrap(text string, limit int) []string {
	var lines []string
	var line strings.Builder
	lineWidth := 0
	flush := func() {
		if line.Len() > 0 {
			lines = append(lines, strings.TrimRight(line.String(), " "))
		}
		line.Reset()
		lineWidth = 0
	}
	for _, word := range strings.Fields(text) {
		ww := columns(word)
		if lineWidth > 0 && lineWidth+1+ww > limit {
			flush()
		}
		if lineWidth > 0 {
			line.WriteByte(' ')
			lineWidth++
		}
		// A word wider than a line (a run of Chinese) is broken by character.
		for _, r := range word {
			rw := columns(string(r))
			if lineWidth+rw > limit {
				flush()
			}
			line.WriteRune(r)
			lineWidth += rw
		}
	}
	flush()
	return lines
}

// columns is how wide s shows in a terminal: East Asian wide and fullwidth characters take two.
func columns(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}
