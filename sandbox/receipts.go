package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/receiptflow/receiptflow/sm3"
)

// applyReceipt is 商户单号申请电子回单: only a successful bill sent with the payee's name, at most once a bill
// (applying again answers the same application).
func (p *Pay) applyReceipt(w http.ResponseWriter, _ *http.Request, body []byte) {
	var req struct {
		OutBillNo string `json:"out_bill_no"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.OutBillNo == "" {
		p.fail(w, http.StatusBadRequest, "PARAM_ERROR", "out_bill_no is required")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.bills[req.OutBillNo]
	switch {
	case !ok:
		p.fail(w, http.StatusNotFound, "NOT_FOUND", "记录不存在")
		return
	case b.State != "SUCCESS" || !b.UserNameSent:
		p.fail(w, http.StatusBadRequest, "INVALID_REQUEST", "仅支持付款成功且传入收款用户姓名的转账单据申请电子回单")
		return
	}
	if b.ReceiptAppliedAt == "" {
		b.ReceiptAppliedAt = p.now().In(beijing).Format(time.RFC3339)
		p.save(b.OutBillNo)
	}
	p.respond(w, http.StatusOK, map[string]any{"state": p.receiptState(b), "create_time": b.ReceiptAppliedAt})
}

// receiptState: WeChat Pay takes minutes to make a receipt (and asks for queries no more often than every 2
// minutes); the sandbox has it made by the query after the first, whatever the clock says, so a caller always
// sees it generating once.
func (p *Pay) receiptState(b *payBill) string {
	if b.ReceiptQueries < 1 {
		return "GENERATING"
	}
	return "FINISHED"
}

// queryReceipt is 商户单号查询电子回单: once made, the file's SHA-256 and a download address valid for 10 minutes.
func (p *Pay) queryReceipt(w http.ResponseWriter, r *http.Request, _ []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.pathBill(w, r)
	if !ok {
		return
	}
	if b.ReceiptAppliedAt == "" {
		p.fail(w, http.StatusNotFound, "NOT_FOUND", "电子回单申请单不存在")
		return
	}
	out := map[string]any{"state": p.receiptState(b), "create_time": b.ReceiptAppliedAt, "update_time": p.now().In(beijing).Format(time.RFC3339)}
	b.ReceiptQueries++
	p.save(b.OutBillNo)
	if out["state"] == "FINISHED" {
		file := receiptPDF(b, p.opts.MchID)
		if p.opts.ReceiptHash == "SM3" {
			sum := sm3.Sum(file)
			out["hash_type"], out["hash_value"] = "SM3", strings.ToUpper(hex.EncodeToString(sum[:]))
		} else {
			sum := sha256.Sum256(file)
			out["hash_type"], out["hash_value"] = "SHA256", strings.ToUpper(hex.EncodeToString(sum[:]))
		}
		out["download_url"] = "https://api.mch.weixin.qq.com/v3/transferdownload/signfile?token=" + url.QueryEscape(b.OutBillNo)
	}
	p.respond(w, http.StatusOK, out)
}

// downloadReceipt serves the file (an unsigned answer, as WeChat Pay's downloads are: the caller checks the hash).
func (p *Pay) downloadReceipt(w http.ResponseWriter, r *http.Request, _ []byte) {
	p.mu.Lock()
	b, ok := p.bills[r.URL.Query().Get("token")]
	var pdf []byte
	if ok && b.ReceiptAppliedAt != "" && p.receiptState(b) == "FINISHED" {
		pdf = receiptPDF(b, p.opts.MchID)
	}
	p.mu.Unlock()
	if pdf == nil {
		p.fail(w, http.StatusNotFound, "NOT_FOUND", "回单文件不存在")
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	_, _ = w.Write(pdf)
}

// receiptPDF is a one-page PDF stating the bill's facts: small, real (any reader opens it) and the same bytes
// every time for the same bill, so its hash is stable.
func receiptPDF(b *payBill, mchID string) []byte {
	lines := []string{
		"WeChat Pay transfer receipt (receiptflow sandbox)",
		"mchid: " + mchID,
		"out_bill_no: " + b.OutBillNo,
		"transfer_bill_no: " + b.TransferBillNo,
		"openid: " + b.OpenID,
		fmt.Sprintf("amount: %d.%02d CNY", b.AmountFen/100, b.AmountFen%100),
		"state: " + b.State,
		"finished: " + b.UpdateTime,
	}
	var text strings.Builder
	text.WriteString("BT /F1 12 Tf 56 780 Td 18 TL\n")
	for _, l := range lines {
		l = strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`).Replace(l)
		text.WriteString("(" + l + ") Tj T*\n")
	}
	text.WriteString("ET\n")
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", text.Len(), text.String()),
	}
	var out strings.Builder
	out.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = out.Len()
		fmt.Fprintf(&out, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := out.Len()
	fmt.Fprintf(&out, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&out, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&out, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return []byte(out.String())
}
