//go:build !nodev

package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"

	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/receiptflow/receiptflow/config"
	"github.com/receiptflow/receiptflow/sandbox"
)

// sandboxKeys are the WeChat Pay keys of a sandbox world: the merchant's API key pair and the sandbox's own
// ("WeChat Pay public key") pair, and the APIv3 key its callbacks are encrypted with.
type sandboxKeys struct {
	MerchantKey string `json:"merchantKey"` // PKCS#8 PEM
	PlatformKey string `json:"platformKey"` // PKCS#8 PEM
	APIv3Key    string `json:"apiV3Key"`
}

const sandboxMerchantSerial = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"

func generateSandboxKeys() (sandboxKeys, error) {
	pemOf := func() (string, error) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return "", err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), err
	}
	merchant, err := pemOf()
	if err != nil {
		return sandboxKeys{}, err
	}
	platform, err := pemOf()
	if err != nil {
		return sandboxKeys{}, err
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return sandboxKeys{MerchantKey: merchant, PlatformKey: platform, APIv3Key: hex.EncodeToString(b)}, nil
}

// newSandbox builds the WeChat and WeChat Pay sandbox that dev and the end-to-end tests run against; opts carries
// faults, seed, logger and WeChat Pay's callback retries, and gains the WeChat Pay keys here.
func newSandbox(keys sandboxKeys, opts sandbox.Options, stateFile string) (*sandbox.Sandbox, error) {
	merchant, err := utils.LoadPrivateKey(keys.MerchantKey)
	if err != nil {
		return nil, err
	}
	platform, err := utils.LoadPrivateKey(keys.PlatformKey)
	if err != nil {
		return nil, err
	}
	opts.Pay = sandbox.PayOptions{MerchantSerial: sandboxMerchantSerial, MerchantPublicKey: &merchant.PublicKey, PlatformKey: platform,
		APIv3Key: keys.APIv3Key, StateFile: stateFile, CallbackRetries: opts.Pay.CallbackRetries}
	return sandbox.New(opts)
}

// useSandbox points the WeChat and WeChat Pay configuration at a sandbox served at sandboxURL; callbacks go to
// the API at apiURL.
func useSandbox(cfg *config.Config, sb *sandbox.Sandbox, keys sandboxKeys, sandboxURL, apiURL string) {
	cfg.WeChat.BaseURL, cfg.WeChat.AppID, cfg.WeChat.Secret = sandboxURL, sb.AppID(), sb.Secret()
	pay := sb.Pay()
	cfg.WeChatPay.BaseURL = sandboxURL
	cfg.WeChatPay.MchID = pay.MchID()
	cfg.WeChatPay.AppID = sb.AppID()
	cfg.WeChatPay.MerchantSerial = sandboxMerchantSerial
	cfg.WeChatPay.MerchantKey = keys.MerchantKey
	cfg.WeChatPay.PublicKeyID = pay.PublicKeyID()
	cfg.WeChatPay.PublicKey = pay.PublicKeyPEM()
	cfg.WeChatPay.APIv3Key = pay.APIv3Key()
	cfg.WeChatPay.NotifyURL = apiURL + "/v1/callbacks/wechatpay/transfer"
}
