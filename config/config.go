// Package config reads receiptflow's configuration from the environment (prefix RECEIPTFLOW_) with
// kelseyhightower/envconfig. Every variable, its default and its meaning: README "Configuration", or
// `receiptflow env`.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/receiptflow/receiptflow/keyring"
	"github.com/receiptflow/receiptflow/proof"
	"github.com/receiptflow/receiptflow/risk"
	"github.com/receiptflow/receiptflow/tax"
	"github.com/receiptflow/receiptflow/telemetry"
	"github.com/receiptflow/receiptflow/wechat"
	"github.com/receiptflow/receiptflow/wechatpay"
)

// Prefix of every variable.
const Prefix = "RECEIPTFLOW"

// Config is the whole configuration.
type Config struct {
	DataDir     string `envconfig:"DATA_DIR" default:".receiptflow" desc:"where dev keeps its SQLite files and generated keys"`
	DatabaseURL string `envconfig:"DATABASE_URL" desc:"postgres://... for PostgreSQL; empty: SQLite file receiptflow.db in the data directory"`

	HTTPHost       string        `envconfig:"HTTP_HOST" default:"127.0.0.1" desc:"address the API binds to (0.0.0.0 in containers)"`
	HTTPPort       int           `envconfig:"HTTP_PORT" default:"8080" desc:"API port"`
	TrustedProxies []string      `envconfig:"TRUSTED_PROXIES" desc:"proxies whose X-Forwarded-For is believed"`
	UpdateWait     time.Duration `envconfig:"UPDATE_WAIT" default:"15s" desc:"how long an API request waits for a workflow step"`
	StopGrace      time.Duration `envconfig:"STOP_GRACE" default:"10s" desc:"on SIGTERM: how long the API lets requests finish, then the worker its steps (dev: 500ms)"`

	Temporal  Temporal `envconfig:"TEMPORAL"`
	UIPort    int      `envconfig:"UI_PORT" default:"8233" desc:"dev: the Temporal Web UI's port; ui-gate: the port it listens on"`
	UIOrigins []string `envconfig:"UI_ORIGIN" desc:"origins of a Temporal Web UI whose browsers call /codec directly (with an operator token, e.g. through the UI's OIDC), comma-separated; the UI behind ui-gate needs none"`
	UIGate    UIGate   `envconfig:"UI"`

	WeChat   wechat.Config `envconfig:"WECHAT"`
	FaceMode string        `envconfig:"FACE_MODE" default:"v2" desc:"face verification: v2 (getverifyid/queryverifyinfo) or v1 (the seed's getuseridkey/getinfo)"`

	TaxMethod string      `envconfig:"TAX_METHOD" default:"cumulative" desc:"withholding method: cumulative (公告2025年第16号) or per_payment (公告2018年第61号)"`
	Risk      risk.Config `envconfig:"RISK"`

	FaceAttempts         int           `envconfig:"FACE_ATTEMPTS" default:"3" desc:"failed face verifications before manual review"`
	FaceDeadline         time.Duration `envconfig:"FACE_DEADLINE" default:"30m" desc:"time to pass face verification"`
	ConfirmDeadline      time.Duration `envconfig:"CONFIRM_DEADLINE" default:"168h" desc:"time for the payee to confirm (and for a manual review)"`
	TransferPollInterval time.Duration `envconfig:"TRANSFER_POLL_INTERVAL" default:"10m" desc:"longest wait between payout status queries"`

	FilesDir            string        `envconfig:"FILES_DIR" desc:"where electronic receipts (电子回单) are kept, named by their SHA-256; api and worker must share it; empty: files/ in the data directory"`
	PDFFont             string        `envconfig:"PDF_FONT" default:"/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf" desc:"a TrueType font with Chinese glyphs for PDF income statements (Debian: fonts-droid-fallback); missing: the PDF answers 503"`
	PDFLatinFont        string        `envconfig:"PDF_LATIN_FONT" default:"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf" desc:"a TrueType font with Latin letters and digits for PDF income statements, which CJK fallback fonts lack (Debian: fonts-dejavu-core)"`
	PlatformName        string        `envconfig:"PLATFORM_NAME" default:"灵活用工平台" desc:"the platform (the withholding agent) as income statements name it"`
	ReceiptPollInterval time.Duration `envconfig:"RECEIPT_POLL_INTERVAL" default:"2m" desc:"wait between queries of an electronic receipt being made (WeChat Pay asks for 2 minutes or more)"`

	ConsoleCookieSecure bool          `envconfig:"CONSOLE_COOKIE_SECURE" default:"true" desc:"the operator console's session cookie only over HTTPS (__Host-); dev: false (plain http on the loopback)"`
	ConsoleSessionTTL   time.Duration `envconfig:"CONSOLE_SESSION_TTL" default:"8h" desc:"how long an operator's console sign-in lasts"`
	WebUIURL            string        `envconfig:"WEB_UI_URL" desc:"the Temporal Web UI's address as operators reach it (its gate), for the console's links to runs; empty: no links"`

	WebhookTimeout    time.Duration `envconfig:"WEBHOOK_TIMEOUT" default:"10s" desc:"how long one merchant webhook delivery attempt may take (then it is retried)"`
	WebhookFirstRetry time.Duration `envconfig:"WEBHOOK_FIRST_RETRY" default:"20s" desc:"the first retry of a failed webhook delivery comes within this; each next waits up to twice as long (jittered, at most 1h)"`
	WebhookRetryFor   time.Duration `envconfig:"WEBHOOK_RETRY_FOR" default:"72h" desc:"how long a webhook delivery is retried before it is marked failed (and its endpoint, failing all along, disabled)"`

	PayoutChannel string           `envconfig:"PAYOUT_CHANNEL" default:"wechatpay" desc:"wechatpay (transfer bills the payee confirms; dev: against the sandbox) or ledger (no money moves, bills succeed at once)"`
	WeChatPay     wechatpay.Config `envconfig:"WECHATPAY"`

	PIIKeys        string        `envconfig:"PII_KEYS" desc:"key ring sealing names, ID numbers and merchant secrets at rest: id:base64(32 bytes)[,...]"`
	LookupKey      string        `envconfig:"LOOKUP_KEY" desc:"base64 key (≥16 bytes) for keyed hashes of ID numbers and face results"`
	PayloadKeys    string        `envconfig:"PAYLOAD_KEYS" desc:"key ring encrypting Temporal payloads: id:base64(32 bytes)[,...]"`
	ProofKeys      string        `envconfig:"PROOF_KEYS" desc:"keys (id:base64(≥32 bytes)[,...], the first signs) with which the API vouches to the worker for the payee, payer or operator behind each update; api and worker need the same"`
	SessionSecret  string        `envconfig:"SESSION_SECRET" desc:"base64 secret (≥32 bytes) signing payee session tokens"`
	SessionTTL     time.Duration `envconfig:"SESSION_TTL" default:"2h" desc:"payee session lifetime"`
	OperatorTokens []string      `envconfig:"OPERATOR_TOKENS" desc:"operatorId:token pairs for the ops API and the codec endpoint"`

	WorkflowCacheSize int `envconfig:"WORKFLOW_CACHE_SIZE" default:"1000" desc:"worker: runs kept in memory between their steps (sticky cache); others are replayed from history when they move"`

	Tracing     telemetry.Tracing `envconfig:"TRACING"`
	MetricsPort int               `envconfig:"METRICS_PORT" default:"9090" desc:"worker: port of /metrics, /healthz and /readyz (the API serves them on its own port)"`

	LogLevel  string `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat string `envconfig:"LOG_FORMAT" default:"json" desc:"json or text"`
}

// Temporal is how to reach the cluster.
type Temporal struct {
	Address       string        `envconfig:"ADDRESS" default:"127.0.0.1:7233" desc:"frontend host:port (dev: the embedded server's port)"`
	Namespace     string        `envconfig:"NAMESPACE" default:"default" desc:"Temporal namespace (migrate creates it)"`
	TaskQueue     string        `envconfig:"TASK_QUEUE" default:"receiptflow" desc:"task queue of the receipt workflows and their activities"`
	Retention     time.Duration `envconfig:"RETENTION" default:"720h" desc:"migrate: how long the namespace it creates keeps closed runs"`
	TLSCertFile   string        `envconfig:"TLS_CERT_FILE" desc:"client certificate (mTLS)"`
	TLSKeyFile    string        `envconfig:"TLS_KEY_FILE" desc:"key of the client certificate"`
	TLSCAFile     string        `envconfig:"TLS_CA_FILE" desc:"CA that signed the server certificate"`
	TLSServerName string        `envconfig:"TLS_SERVER_NAME" desc:"server name to verify, when not the address's host"`
	APIKey        string        `envconfig:"API_KEY" desc:"Temporal Cloud API key (implies TLS)"`
}

// Load reads the environment.
func Load() (Config, error) {
	var c Config
	if err := envconfig.Process(Prefix, &c); err != nil {
		return c, err
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	var errs []error
	if _, err := tax.ParseMethod(c.TaxMethod); err != nil {
		errs = append(errs, fmt.Errorf("RECEIPTFLOW_TAX_METHOD: %w", err))
	}
	if c.FaceMode != "v1" && c.FaceMode != "v2" {
		errs = append(errs, fmt.Errorf("RECEIPTFLOW_FACE_MODE must be v1 or v2, got %q", c.FaceMode))
	}
	if c.PayoutChannel != "ledger" && c.PayoutChannel != "wechatpay" {
		errs = append(errs, fmt.Errorf("RECEIPTFLOW_PAYOUT_CHANNEL must be ledger or wechatpay, got %q", c.PayoutChannel))
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.LogLevel)) {
		errs = append(errs, fmt.Errorf("RECEIPTFLOW_LOG_LEVEL must be debug, info, warn or error, got %q", c.LogLevel))
	}
	if !slices.Contains([]string{"json", "text"}, strings.ToLower(c.LogFormat)) {
		errs = append(errs, fmt.Errorf("RECEIPTFLOW_LOG_FORMAT must be json or text, got %q", c.LogFormat))
	}
	if err := c.Risk.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("RECEIPTFLOW_RISK_*: %w", err))
	}
	if c.FaceAttempts < 1 || c.FaceDeadline <= 0 || c.ConfirmDeadline <= 0 || c.TransferPollInterval <= 0 {
		errs = append(errs, errors.New("RECEIPTFLOW_FACE_ATTEMPTS, _FACE_DEADLINE, _CONFIRM_DEADLINE and _TRANSFER_POLL_INTERVAL must be positive"))
	}
	for _, p := range []struct {
		name string
		port int
	}{{"HTTP_PORT", c.HTTPPort}, {"UI_PORT", c.UIPort}, {"METRICS_PORT", c.MetricsPort}} {
		if p.port < 0 || p.port > 65535 {
			errs = append(errs, fmt.Errorf("RECEIPTFLOW_%s out of range: %d", p.name, p.port))
		}
	}
	return errors.Join(errs...)
}

// FilesDirectory is FilesDir, or files/ in the data directory.
func (c Config) FilesDirectory() string {
	if c.FilesDir != "" {
		return c.FilesDir
	}
	return filepath.Join(c.DataDir, "files")
}

// DatabaseDSN is DatabaseURL, or the SQLite file in the data directory.
func (c Config) DatabaseDSN() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return filepath.Join(c.DataDir, "receiptflow.db")
}

// UIGate configures `receiptflow ui-gate`, the operators' sign-in in front of the Temporal Web UI.
type UIGate struct {
	Upstream     string        `envconfig:"UPSTREAM" default:"http://127.0.0.1:8080" desc:"ui-gate: the Temporal Web UI it guards (compose: http://temporal-ui:8080)"`
	CodecURL     string        `envconfig:"CODEC_URL" default:"http://127.0.0.1:8080/codec" desc:"ui-gate: the API's /codec, where it decodes payloads for signed-in operators"`
	Hosts        []string      `envconfig:"HOSTS" desc:"ui-gate: Host names (host:port) it answers, comma-separated; others get 421. Empty: any"`
	CookieSecure bool          `envconfig:"COOKIE_SECURE" default:"true" desc:"ui-gate: session cookie only over HTTPS (false only for plain http on a private network)"`
	SessionTTL   time.Duration `envconfig:"SESSION_TTL" default:"8h" desc:"ui-gate: how long an operator's sign-in lasts"`
}

// Secrets are the keys parsed from configuration.
type Secrets struct {
	PII       *keyring.Ring
	Lookup    []byte
	Payload   *keyring.Ring
	Session   []byte
	Proofs    *proof.Keys
	Operators map[string]string // token → operator ID
}

// Secrets parses the keys; every one is required.
func (c Config) Secrets() (Secrets, error) {
	var s Secrets
	var errs []error
	var err error
	if s.PII, err = keyring.Parse(c.PIIKeys); err != nil {
		errs = append(errs, fmt.Errorf("RECEIPTFLOW_PII_KEYS: %w", err))
	}
	if s.Payload, err = keyring.Parse(c.PayloadKeys); err != nil {
		errs = append(errs, fmt.Errorf("RECEIPTFLOW_PAYLOAD_KEYS: %w", err))
	}
	if s.Lookup, err = base64.StdEncoding.DecodeString(c.LookupKey); err != nil || len(s.Lookup) < 16 {
		errs = append(errs, errors.New("RECEIPTFLOW_LOOKUP_KEY: want at least 16 bytes in standard base64"))
	}
	if s.Session, err = base64.StdEncoding.DecodeString(c.SessionSecret); err != nil || len(s.Session) < 32 {
		errs = append(errs, errors.New("RECEIPTFLOW_SESSION_SECRET: want at least 32 bytes in standard base64"))
	}
	if s.Proofs, err = proof.Parse(c.ProofKeys); err != nil {
		errs = append(errs, fmt.Errorf("RECEIPTFLOW_PROOF_KEYS: %w", err))
	}
	if s.Operators, err = c.Operators(); err != nil {
		errs = append(errs, err)
	}
	return s, errors.Join(errs...)
}

// Operators parses RECEIPTFLOW_OPERATOR_TOKENS into token → operator ID (all ui-gate needs).
func (c Config) Operators() (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range c.OperatorTokens {
		id, token, ok := strings.Cut(pair, ":")
		if !ok || id == "" || len(token) < 16 {
			return out, errors.New("RECEIPTFLOW_OPERATOR_TOKENS: want operatorId:token with tokens of at least 16 characters")
		}
		out[token] = id
	}
	return out, nil
}
