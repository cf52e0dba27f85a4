package config

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kelseyhightower/envconfig"
	"gopkg.in/yaml.v3"
)

// The compose file cannot run here (no Docker engine); this keeps it honest against the code instead:
// services, commands, ports, and every RECEIPTFLOW_* variable it sets being one the configuration reads.
// .ci/run also validates its structure with docker-compose config.

type composeFile struct {
	Networks map[string]struct {
		Internal bool `yaml:"internal"`
	} `yaml:"networks"`
	Services map[string]struct {
		Networks    []string          `yaml:"networks"`
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		Command     []string          `yaml:"command"`
		Ports       []string          `yaml:"ports"`
		Environment map[string]string `yaml:"environment"`
		DependsOn   map[string]any    `yaml:"depends_on"`
		Volumes     []string          `yaml:"volumes"`
	} `yaml:"services"`
}

func knownVariables(t *testing.T) []string {
	t.Helper()
	var c Config
	var buf bytes.Buffer
	if err := envconfig.Usagef(Prefix, &c, &buf, "{{range .}}{{.Key}}\n{{end}}"); err != nil {
		t.Fatal(err)
	}
	return strings.Fields(buf.String())
}

func readCompose(t *testing.T) (composeFile, string) {
	t.Helper()
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f, string(raw)
}

func TestComposeServicesAndPorts(t *testing.T) {
	f, _ := readCompose(t)
	want := map[string]struct {
		command []string
		port    string
	}{
		"postgres": {}, "temporal-schema": {}, "temporal": {}, "temporal-ui": {},
		"temporal-ui-gate":    {command: []string{"ui-gate"}, port: "8233:8233"},
		"receiptflow-migrate": {command: []string{"migrate"}},
		"receiptflow-api":     {command: []string{"api"}, port: "8080:8080"},
		"receiptflow-worker":  {command: []string{"worker"}},
	}
	if !f.Networks["internal"].Internal {
		t.Error("the internal network is not internal: true")
	}
	for name, w := range want {
		s, ok := f.Services[name]
		if !ok {
			t.Errorf("service %s missing", name)
			continue
		}
		if w.command != nil && !slices.Equal(s.Command, w.command) {
			t.Errorf("%s runs %v, want %v", name, s.Command, w.command)
		}
		// Only the API and the UI's gate are published; Temporal's gRPC, the bare UI, PostgreSQL and /metrics have
		// no authentication of their own (docker-compose.ports.yml publishes two of them on loopback, opt-in).
		if w.port == "" && len(s.Ports) > 0 {
			t.Errorf("%s publishes %v", name, s.Ports)
		}
		if w.port != "" && !slices.Equal(s.Ports, []string{w.port}) {
			t.Errorf("%s publishes %v, want %s", name, s.Ports, w.port)
		}
		if !slices.Contains(s.Networks, "internal") {
			t.Errorf("%s is not on the internal network: %v", name, s.Networks)
		}
		if strings.HasPrefix(name, "temporal") && name != "temporal-ui-gate" || name == "postgres" {
			if !slices.Equal(s.Networks, []string{"internal"}) {
				t.Errorf("%s is reachable from outside the internal network: %v", name, s.Networks)
			}
		}
	}
	if env := f.Services["temporal-ui"].Environment; env["TEMPORAL_CODEC_ENDPOINT"] != "/_receiptflow/codec" {
		t.Errorf("the Web UI decodes through %q, not its gate", env["TEMPORAL_CODEC_ENDPOINT"])
	}
	if f.Services["receiptflow-migrate"].Build == nil {
		t.Error("receiptflow is not built from the Dockerfile")
	}
	for _, name := range []string{"receiptflow-api", "receiptflow-worker"} {
		if _, ok := f.Services[name].DependsOn["receiptflow-migrate"]; !ok {
			t.Errorf("%s does not wait for the migrations", name)
		}
	}
}

func TestComposeEnvironmentMatchesTheConfiguration(t *testing.T) {
	f, _ := readCompose(t)
	known := knownVariables(t)
	// What api and worker refuse to start without (config.Secrets, wechatpay.New, a real database and cluster).
	required := []string{"RECEIPTFLOW_PII_KEYS", "RECEIPTFLOW_LOOKUP_KEY", "RECEIPTFLOW_PAYLOAD_KEYS", "RECEIPTFLOW_PROOF_KEYS", "RECEIPTFLOW_SESSION_SECRET",
		"RECEIPTFLOW_DATABASE_URL", "RECEIPTFLOW_TEMPORAL_ADDRESS", "RECEIPTFLOW_HTTP_HOST", "RECEIPTFLOW_WECHAT_APPID", "RECEIPTFLOW_WECHAT_SECRET",
		"RECEIPTFLOW_WECHATPAY_MCHID", "RECEIPTFLOW_WECHATPAY_MERCHANT_SERIAL", "RECEIPTFLOW_WECHATPAY_PUBLIC_KEY_ID",
		"RECEIPTFLOW_WECHATPAY_APIV3_KEY", "RECEIPTFLOW_WECHATPAY_NOTIFY_URL", "RECEIPTFLOW_WECHATPAY_MERCHANT_KEY_FILE", "RECEIPTFLOW_WECHATPAY_PUBLIC_KEY_FILE"}
	for k := range f.Services["temporal-ui-gate"].Environment {
		if strings.HasPrefix(k, Prefix+"_") && !slices.Contains(known, k) {
			t.Errorf("temporal-ui-gate sets %s, which receiptflow does not read", k)
		}
	}
	for _, name := range []string{"receiptflow-migrate", "receiptflow-api", "receiptflow-worker"} {
		env := f.Services[name].Environment
		for k := range env {
			if strings.HasPrefix(k, Prefix+"_") && !slices.Contains(known, k) {
				t.Errorf("%s sets %s, which receiptflow does not read", name, k)
			}
		}
		for _, k := range required {
			if env[k] == "" {
				t.Errorf("%s does not set %s", name, k)
			}
		}
		if !strings.HasPrefix(env["RECEIPTFLOW_DATABASE_URL"], "postgres://") {
			t.Errorf("%s does not use PostgreSQL", name)
		}
	}
}

// Every ${VAR} the compose file needs without a default is documented in .env.example, which holds no secret.
func TestEnvExampleCoversTheComposeFile(t *testing.T) {
	_, raw := readCompose(t)
	example, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	for _, line := range strings.Split(string(example), "\n") {
		if k, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			defined[strings.TrimSpace(k)] = true
		}
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+)(:-[^}]*)?\}`).FindAllStringSubmatch(raw, -1) {
		if m[2] == "" && !defined[m[1]] {
			t.Errorf("${%s} is not in .env.example", m[1])
		}
	}
	for _, line := range strings.Split(string(example), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.Contains(k, "KEY") && len(v) > 0 && !strings.Contains(v, "REPLACE") && !strings.HasSuffix(k, "_FILE") && !strings.HasSuffix(k, "_KEY_ID") {
			t.Errorf(".env.example sets %s to a value that looks real", k)
		}
	}
	if _, err := os.Stat("../.env"); err == nil {
		t.Log("a local .env exists; make sure it stays out of git (.gitignore)")
	}
}
