package config

import (
	"strings"
	"testing"
)

// A setting that takes one of a few words is checked at start, and the error names the variable.
func TestLoadRefusesUnknownWords(t *testing.T) {
	for variable, value := range map[string]string{
		"RECEIPTFLOW_LOG_LEVEL":      "loud",
		"RECEIPTFLOW_LOG_FORMAT":     "xml",
		"RECEIPTFLOW_FACE_MODE":      "v3",
		"RECEIPTFLOW_TAX_METHOD":     "guess",
		"RECEIPTFLOW_PAYOUT_CHANNEL": "cash",
	} {
		t.Run(variable, func(t *testing.T) {
			t.Setenv(variable, value)
			_, err := Load()
			if err == nil || !strings.Contains(err.Error(), variable) {
				t.Fatalf("%s=%s: %v", variable, value, err)
			}
		})
	}
	for _, level := range []string{"debug", "INFO", "warn", "error"} {
		t.Setenv("RECEIPTFLOW_LOG_LEVEL", level)
		if _, err := Load(); err != nil {
			t.Errorf("RECEIPTFLOW_LOG_LEVEL=%s refused: %v", level, err)
		}
	}
}
