package store

import (
	"context"
	"time"

	"github.com/receiptflow/receiptflow/wechatpay"
)

// BillReceipt is where a bill's electronic receipt stands.
type BillReceipt struct {
	OutBillNo  string    `json:"outBillNo"`
	OrderID    string    `json:"orderId"`
	State      string    `json:"state"`
	SHA256     string    `json:"sha256,omitempty"`
	SizeBytes  int       `json:"sizeBytes,omitempty"`
	FailReason string    `json:"failReason,omitempty"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// Bill receipt states: WeChat Pay's while it makes the receipt, then ours once the file is kept.
const (
	ReceiptGenerating = wechatpay.ReceiptGenerating
	ReceiptFailed     = wechatpay.ReceiptFailed
	ReceiptStored     = "STORED"
)

// RecordBillReceipt writes where a bill's receipt stands; a stored receipt stays stored.
func (s *Store) RecordBillReceipt(ctx context.Context, r BillReceipt) error {
	now := s.stamp()
	_, err := s.exec(ctx, s.db, `INSERT INTO bill_receipts (out_bill_no, order_id, state, sha256, size_bytes, fail_reason, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (out_bill_no) DO UPDATE SET state = excluded.state, sha256 = excluded.sha256, size_bytes = excluded.size_bytes,
			fail_reason = excluded.fail_reason, updated_at = excluded.updated_at WHERE bill_receipts.state <> ?`,
		r.OutBillNo, r.OrderID, r.State, r.SHA256, r.SizeBytes, r.FailReason, now, now, ReceiptStored)
	return err
}

// BillReceiptOf is a bill's receipt record (ErrNotFound when none was asked for).
func (s *Store) BillReceiptOf(ctx context.Context, outBillNo string) (BillReceipt, error) {
	var r BillReceipt
	var updated string
	err := s.row(ctx, s.db, `SELECT out_bill_no, order_id, state, sha256, size_bytes, fail_reason, updated_at FROM bill_receipts WHERE out_bill_no = ?`,
		outBillNo).Scan(&r.OutBillNo, &r.OrderID, &r.State, &r.SHA256, &r.SizeBytes, &r.FailReason, &updated)
	if err != nil {
		return BillReceipt{}, notFound(err, "bill receipt")
	}
	r.UpdatedAt = parseTime(updated)
	return r, nil
}
