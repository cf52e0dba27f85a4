// Package wechatpay is the WeChat Pay merchant transfer (商家转账, 2025 用户确认模式) client on wechatpay-go's core:
// create a transfer bill, query and cancel it by out_bill_no, and verify and decrypt the transfer callback.
// Wire formats: WeChat Pay APIv3 商家转账 docs (pay.weixin.qq.com: 发起转账 POST /v3/fund-app/mch-transfer/transfer-bills,
// 商户单号查询转账单, 撤销转账, 商家转账回调通知). wechatpay-go has the signing, field encryption and notify handling but no
// transfer-bills service, so the calls are written here on its core client.
package wechatpay

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

// Config is read from the environment (RECEIPTFLOW_WECHATPAY_*). Keys come from files or inline PEM and are never
// logged.
type Config struct {
	BaseURL         string        `envconfig:"BASE_URL" default:"https://api.mch.weixin.qq.com" desc:"WeChat Pay API (the sandbox's address in dev and staging)"`
	MchID           string        `envconfig:"MCHID" desc:"merchant ID (商户号)"`
	AppID           string        `envconfig:"APPID" desc:"appid the bills pay through (default: RECEIPTFLOW_WECHAT_APPID)"`
	MerchantSerial  string        `envconfig:"MERCHANT_SERIAL" desc:"serial number of the merchant API certificate"`
	MerchantKeyFile string        `envconfig:"MERCHANT_KEY_FILE" desc:"merchant API private key (PEM file)"`
	MerchantKey     string        `envconfig:"MERCHANT_KEY" desc:"merchant API private key (PEM), instead of the file"`
	PublicKeyID     string        `envconfig:"PUBLIC_KEY_ID" desc:"WeChat Pay public key ID (PUB_KEY_ID_...)"`
	PublicKeyFile   string        `envconfig:"PUBLIC_KEY_FILE" desc:"WeChat Pay public key (PEM file)"`
	PublicKey       string        `envconfig:"PUBLIC_KEY" desc:"WeChat Pay public key (PEM), instead of the file"`
	APIv3Key        string        `envconfig:"APIV3_KEY" desc:"APIv3 key (32 bytes) that decrypts callbacks"`
	NotifyURL       string        `envconfig:"NOTIFY_URL" desc:"https URL of POST /v1/callbacks/wechatpay/transfer"`
	SceneID         string        `envconfig:"SCENE_ID" default:"1005" desc:"transfer_scene_id (1005: 佣金报酬)"`
	PostType        string        `envconfig:"REPORT_POST_TYPE" default:"灵活用工人员" desc:"scene report 岗位类型"`
	RewardNote      string        `envconfig:"REPORT_REWARD_NOTE" default:"劳务报酬" desc:"scene report 报酬说明"`
	Remark          string        `envconfig:"REMARK" default:"劳务报酬" desc:"transfer_remark shown to the payee (≤ 32 characters)"`
	RecvPerception  string        `envconfig:"USER_RECV_PERCEPTION" desc:"user_recv_perception, when the scene needs one"`
	Timeout         time.Duration `envconfig:"TIMEOUT" default:"10s" desc:"timeout of each WeChat Pay call"`
}

// Client is safe for concurrent use.
type Client struct {
	cfg      Config
	core     *core.Client
	download *core.Client // for receipt files: their answers carry no signature
	notify   *notify.Handler
}

// New builds a client; it loads the keys now so a bad key fails at start, not at the first payout.
func New(ctx context.Context, cfg Config, httpClient *http.Client) (*Client, error) {
	var missing []string
	for _, f := range []struct{ name, value string }{{"MCHID", cfg.MchID}, {"APPID", cfg.AppID}, {"MERCHANT_SERIAL", cfg.MerchantSerial},
		{"PUBLIC_KEY_ID", cfg.PublicKeyID}, {"APIV3_KEY", cfg.APIv3Key}, {"NOTIFY_URL", cfg.NotifyURL}} {
		if f.value == "" {
			missing = append(missing, "RECEIPTFLOW_WECHATPAY_"+f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("wechatpay: missing %s", strings.Join(missing, ", "))
	}
	if len(cfg.APIv3Key) != 32 {
		return nil, errors.New("wechatpay: the APIv3 key must be 32 bytes")
	}
	if utf8.RuneCountInString(cfg.Remark) > 32 {
		return nil, errors.New("wechatpay: the transfer remark must be at most 32 characters")
	}
	merchantKey, err := loadPEM(cfg.MerchantKey, cfg.MerchantKeyFile, utils.LoadPrivateKey)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: merchant key: %w", err)
	}
	publicKey, err := loadPEM(cfg.PublicKey, cfg.PublicKeyFile, utils.LoadPublicKey)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: WeChat Pay public key: %w", err)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	if cfg.Timeout > 0 {
		hc := *httpClient
		hc.Timeout = cfg.Timeout
		httpClient = &hc
	}
	c, err := core.NewClient(ctx,
		option.WithWechatPayPublicKeyAuthCipher(cfg.MchID, cfg.MerchantSerial, merchantKey, cfg.PublicKeyID, publicKey),
		option.WithHTTPClient(httpClient))
	if err != nil {
		return nil, fmt.Errorf("wechatpay: %w", err)
	}
	// Downloads are not signed by WeChat Pay (the file's hash is checked instead): a client without the validator.
	download, err := core.NewClient(ctx,
		option.WithWechatPayPublicKeyAuthCipher(cfg.MchID, cfg.MerchantSerial, merchantKey, cfg.PublicKeyID, publicKey),
		option.WithHTTPClient(httpClient), option.WithoutValidator())
	if err != nil {
		return nil, fmt.Errorf("wechatpay: %w", err)
	}
	h, err := notify.NewRSANotifyHandler(cfg.APIv3Key, verifiers.NewSHA256WithRSAPubkeyVerifier(cfg.PublicKeyID, *publicKey))
	if err != nil {
		return nil, fmt.Errorf("wechatpay: %w", err)
	}
	return &Client{cfg: cfg, core: c, download: download, notify: h}, nil
}

func loadPEM[K any](inline, file string, parse func(string) (K, error)) (K, error) {
	var zero K
	if inline == "" && file != "" {
		raw, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrPermission) {
			// Compose mounts secret files with their host owner and mode; the image runs as uid 65532.
			return zero, fmt.Errorf("%w: make it readable by uid %d (chown, then chmod 0400)", err, os.Getuid())
		}
		if err != nil {
			return zero, err
		}
		inline = string(raw)
	}
	if inline == "" {
		return zero, errors.New("not configured")
	}
	return parse(inline)
}

// MchID and AppID are what the mini-program passes to wx.requestMerchantTransfer.
func (c *Client) MchID() string { return c.cfg.MchID }
func (c *Client) AppID() string { return c.cfg.AppID }

// A transfer bill's states, as WeChat Pay names them. They are the project's one vocabulary for bills: the store
// records them, the workflow follows them, and the ledger channel of dev and tests speaks them too.
const (
	StateAccepted        = "ACCEPTED"
	StateProcessing      = "PROCESSING"
	StateWaitUserConfirm = "WAIT_USER_CONFIRM" // the payee must confirm in WeChat (package_info), within 24 hours
	StateTransfering     = "TRANSFERING"       // the payee confirmed; WeChat Pay is moving the money
	StateSuccess         = "SUCCESS"
	StateFail            = "FAIL"
	StateCanceling       = "CANCELING"
	StateCancelled       = "CANCELLED"
)

// Final reports whether a bill in state can no longer change.
func Final(state string) bool {
	return state == StateSuccess || state == StateFail || state == StateCancelled
}

// Bill is what WeChat Pay says about one transfer.
type Bill struct {
	OutBillNo      string `json:"out_bill_no"`
	TransferBillNo string `json:"transfer_bill_no"`
	State          string `json:"state"`
	FailReason     string `json:"fail_reason,omitempty"`
	PackageInfo    string `json:"package_info,omitempty"`
	AmountFen      int64  `json:"transfer_amount,omitempty"`
	OpenID         string `json:"openid,omitempty"`
	CreateTime     string `json:"create_time,omitempty"`
	UpdateTime     string `json:"update_time,omitempty"`
}

// BillRequest is a transfer to create.
type BillRequest struct {
	OutBillNo string
	OpenID    string
	AmountFen int64
	// UserName, required from 2,000 元 and checked whenever sent, is encrypted with WeChat Pay's public key before
	// it leaves.
	UserName string
}

var outBillNoPattern = regexp.MustCompile(`^[0-9A-Za-z]{1,32}$`)

// Errors a caller branches on.
var (
	// ErrRejected: WeChat Pay refused the request's parameters (PARAM_ERROR, or our own pre-flight checks) before
	// any bill existed; sending it again cannot succeed.
	ErrRejected = errors.New("wechatpay: request rejected")
	// ErrInvalidRequest: WeChat Pay answered INVALID_REQUEST, which covers 「单号已存在但信息不一致」 (the out_bill_no
	// exists with other data) as well as refusals before any bill existed: only a query of the same out_bill_no
	// tells which.
	ErrInvalidRequest = errors.New("wechatpay: invalid request")
	// ErrMisconfigured: our merchant credentials or permissions are wrong.
	ErrMisconfigured = errors.New("wechatpay: merchant credentials or permissions refused")
)

type createBody struct {
	AppID              string       `json:"appid"`
	OutBillNo          string       `json:"out_bill_no"`
	TransferSceneID    string       `json:"transfer_scene_id"`
	OpenID             string       `json:"openid"`
	UserName           string       `json:"user_name,omitempty" encryption:"EM_APIV3"`
	TransferAmount     int64        `json:"transfer_amount"`
	TransferRemark     string       `json:"transfer_remark"`
	NotifyURL          string       `json:"notify_url"`
	UserRecvPerception string       `json:"user_recv_perception,omitempty"`
	ReportInfos        []reportInfo `json:"transfer_scene_report_infos"`
}

type reportInfo struct {
	InfoType    string `json:"info_type"`
	InfoContent string `json:"info_content"`
}

// NameRequiredFen is where WeChat Pay requires user_name (2,000 元); below it user_name is optional and, when sent,
// still checked against the receiving account's real name.
const NameRequiredFen = 200000

// Create creates a bill. The same out_bill_no with the same parameters returns the existing bill; an unknown
// outcome must be resolved with Query on the same out_bill_no, never with a new one.
func (c *Client) Create(ctx context.Context, r BillRequest) (Bill, error) {
	switch {
	case !outBillNoPattern.MatchString(r.OutBillNo):
		return Bill{}, fmt.Errorf("%w: out_bill_no must be 1-32 letters or digits", ErrRejected)
	case r.AmountFen < 10:
		return Bill{}, fmt.Errorf("%w: transfer_amount must be at least 10 fen", ErrRejected)
	case r.AmountFen >= NameRequiredFen && r.UserName == "":
		return Bill{}, fmt.Errorf("%w: user_name is required from 2,000 yuan", ErrRejected)
	}
	body := &createBody{AppID: c.cfg.AppID, OutBillNo: r.OutBillNo, TransferSceneID: c.cfg.SceneID, OpenID: r.OpenID,
		TransferAmount: r.AmountFen, TransferRemark: c.cfg.Remark, NotifyURL: c.cfg.NotifyURL, UserRecvPerception: c.cfg.RecvPerception,
		ReportInfos: []reportInfo{{"岗位类型", c.cfg.PostType}, {"报酬说明", c.cfg.RewardNote}}}
	body.UserName = r.UserName
	serial, err := c.core.EncryptRequest(ctx, body)
	if err != nil {
		return Bill{}, fmt.Errorf("wechatpay: encrypt user_name: %w", err)
	}
	header := http.Header{}
	header.Set("Wechatpay-Serial", serial)
	res, err := c.core.Request(ctx, http.MethodPost, c.cfg.BaseURL+"/v3/fund-app/mch-transfer/transfer-bills", header, nil, body, "application/json")
	return decode(res, err)
}

// Query asks for a bill by out_bill_no. found is false when WeChat Pay has no such bill.
func (c *Client) Query(ctx context.Context, outBillNo string) (b Bill, found bool, err error) {
	if !outBillNoPattern.MatchString(outBillNo) {
		return Bill{}, false, fmt.Errorf("%w: bad out_bill_no", ErrRejected)
	}
	res, err := c.core.Request(ctx, http.MethodGet, c.cfg.BaseURL+"/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/"+url.PathEscape(outBillNo), nil, nil, nil, "")
	var apiErr *core.APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
		return Bill{}, false, nil
	}
	b, err = decode(res, err)
	return b, err == nil, err
}

// Cancel withdraws a bill the payee has not confirmed; WeChat Pay answers CANCELING, then CANCELLED.
func (c *Client) Cancel(ctx context.Context, outBillNo string) (Bill, error) {
	if !outBillNoPattern.MatchString(outBillNo) {
		return Bill{}, fmt.Errorf("%w: bad out_bill_no", ErrRejected)
	}
	res, err := c.core.Request(ctx, http.MethodPost, c.cfg.BaseURL+"/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/"+url.PathEscape(outBillNo)+"/cancel",
		nil, nil, map[string]string{}, "application/json")
	return decode(res, err)
}

// decode reads a verified answer about a bill, or classifies the failure.
func decode(res *core.APIResult, err error) (Bill, error) { return decodeAs[Bill](res, err) }

// decodeAs reads a verified answer or classifies the failure: rejected (4xx about the request), misconfigured
// (signature, permission), anything else transient.
func decodeAs[T any](res *core.APIResult, err error) (T, error) {
	var out T
	if err != nil {
		var apiErr *core.APIError
		if errors.As(err, &apiErr) {
			switch {
			case apiErr.StatusCode == http.StatusUnauthorized, apiErr.Code == "SIGN_ERROR", apiErr.Code == "NO_AUTH":
				return out, fmt.Errorf("%w: %s %s", ErrMisconfigured, apiErr.Code, apiErr.Message)
			case apiErr.Code == "PARAM_ERROR":
				return out, fmt.Errorf("%w: %s %s", ErrRejected, apiErr.Code, apiErr.Message)
			case apiErr.Code == "INVALID_REQUEST":
				return out, fmt.Errorf("%w: %s %s", ErrInvalidRequest, apiErr.Code, apiErr.Message)
			}
			return out, fmt.Errorf("wechatpay: HTTP %d %s %s", apiErr.StatusCode, apiErr.Code, apiErr.Message)
		}
		return out, fmt.Errorf("wechatpay: %w", err)
	}
	defer res.Response.Body.Close()
	if err := core.UnMarshalResponse(res.Response, &out); err != nil {
		return out, fmt.Errorf("wechatpay: decode: %w", err)
	}
	return out, nil
}
