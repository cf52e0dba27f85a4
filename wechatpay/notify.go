package wechatpay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// EventTransferFinished is the event of a transfer callback; WeChat Pay sends it for final states only.
const EventTransferFinished = "MCHTRANSFER.BILL.FINISHED"

// Notification is a verified, decrypted transfer callback.
type Notification struct {
	ID        string
	EventType string
	Bill      NotifiedBill
}

// NotifiedBill is the callback's plaintext resource.
type NotifiedBill struct {
	MchID          string `json:"mch_id"`
	OutBillNo      string `json:"out_bill_no"`
	TransferBillNo string `json:"transfer_bill_no"`
	State          string `json:"state"`
	AmountFen      int64  `json:"transfer_amount"`
	FailReason     string `json:"fail_reason"`
	OpenID         string `json:"openid"`
	CreateTime     string `json:"create_time"`
	UpdateTime     string `json:"update_time"`
}

// ErrBadNotification: the callback's signature, timestamp (≥ 5 minutes off), algorithm or ciphertext did not
// verify. Nothing in it may be believed.
var ErrBadNotification = errors.New("wechatpay: notification does not verify")

// ParseNotification verifies a callback's RSA-SHA256 signature over timestamp\nnonce\nbody\n and its timestamp,
// and decrypts its resource with the APIv3 key (AEAD_AES_256_GCM).
func (c *Client) ParseNotification(ctx context.Context, r *http.Request) (Notification, error) {
	var bill NotifiedBill
	req, err := c.notify.ParseNotifyRequest(ctx, r, &bill)
	if err != nil {
		// The SDK's message ends with a dump of the whole request; keep only the reason.
		reason, _, _ := strings.Cut(err.Error(), ", request:")
		return Notification{}, fmt.Errorf("%w: %s", ErrBadNotification, reason)
	}
	if bill.MchID != "" && bill.MchID != c.cfg.MchID {
		return Notification{}, fmt.Errorf("%w: for merchant %s", ErrBadNotification, bill.MchID)
	}
	return Notification{ID: req.ID, EventType: req.EventType, Bill: bill}, nil
}
