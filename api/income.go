package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/receiptflow/receiptflow/pii"
	"github.com/receiptflow/receiptflow/statement"
	"github.com/receiptflow/receiptflow/store"
	"github.com/receiptflow/receiptflow/tax"
)

// incomeOrder is one paid order in the payee's statement; incomeMonth a month of them.
type incomeOrder struct {
	OrderID     string `json:"orderId"`
	PayerID     string `json:"payerId"`
	ServiceItem string `json:"serviceItem"`
	GrossFen    int64  `json:"grossFen"`
	TaxFen      int64  `json:"taxFen"`
	NetFen      int64  `json:"netFen"`
}

type incomeMonth struct {
	Period   string        `json:"period"`
	GrossFen int64         `json:"grossFen"`
	TaxFen   int64         `json:"taxFen"`
	NetFen   int64         `json:"netFen"`
	Orders   []incomeOrder `json:"orders"`
}

// incomeOf is the payee's income statement for a tax year (收入明细 / 完税), read from the books' posted payments —
// the same read the filing makes: per month (the month each was paid) the gross, the tax withheld and the net
// received, and each order. A payment still waiting for its bill, or voided, is not income. ok is false when it
// answered an error.
func (h *handlers) incomeOf(c *gin.Context, year int) (months []incomeMonth, gross, taxFen int64, ok bool) {
	ctx := c.Request.Context()
	p, err := h.Store.PayeeByOpenID(ctx, c.GetString("openid"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, 0, true
	}
	if err != nil {
		abort(c, errUnavailable)
		return nil, 0, 0, false
	}
	paid, err := h.Store.Payments(ctx, store.PaymentQuery{PayeeID: p.ID, Year: year, States: []string{store.PaymentPosted}})
	if err != nil {
		h.Logger.Error("income statement: books", "err", err)
		abort(c, errUnavailable)
		return nil, 0, 0, false
	}
	for _, pay := range paid {
		if len(months) == 0 || months[len(months)-1].Period != pay.Period {
			months = append(months, incomeMonth{Period: pay.Period, Orders: []incomeOrder{}})
		}
		m := &months[len(months)-1]
		m.GrossFen += pay.GrossFen
		m.TaxFen += pay.TaxFen
		m.NetFen += pay.NetFen
		m.Orders = append(m.Orders, incomeOrder{OrderID: pay.OrderID, PayerID: pay.PayerID, ServiceItem: pay.ServiceItem, GrossFen: pay.GrossFen,
			TaxFen: pay.TaxFen, NetFen: pay.NetFen})
		gross += pay.GrossFen
		taxFen += pay.TaxFen
	}
	return months, gross, taxFen, true
}

// incomeYear reads ?year= (default: this year in Beijing).
func incomeYear(c *gin.Context, raw string) (int, bool) {
	if raw == "" {
		return tax.Year(time.Now()), true
	}
	y, err := strconv.Atoi(raw)
	if err != nil || y < 2000 || y > 2100 {
		abort(c, problem(http.StatusBadRequest, "BAD_REQUEST", "year must be YYYY"))
		return 0, false
	}
	return y, true
}

// myIncome answers the statement as JSON.
func (h *handlers) myIncome(c *gin.Context) {
	year, ok := incomeYear(c, c.Query("year"))
	if !ok {
		return
	}
	months, gross, taxFen, ok := h.incomeOf(c, year)
	if !ok {
		return
	}
	if months == nil {
		months = []incomeMonth{}
	}
	c.JSON(http.StatusOK, gin.H{"year": year, "grossFen": gross, "taxFen": taxFen, "netFen": gross - taxFen, "months": months})
}

// myIncomePDF answers GET /v1/me/income/{year}.pdf: the same statement on one page, name and ID number masked.
func (h *handlers) myIncomePDF(c *gin.Context) {
	raw, isPDF := strings.CutSuffix(c.Param("file"), ".pdf")
	if !isPDF {
		abort(c, problem(http.StatusNotFound, "NOT_FOUND", "no such route"))
		return
	}
	year, ok := incomeYear(c, raw)
	if !ok {
		return
	}
	months, gross, taxFen, ok := h.incomeOf(c, year)
	if !ok {
		return
	}
	s := statement.Statement{Year: year, Platform: h.PlatformName, GrossFen: gross, TaxFen: taxFen, NetFen: gross - taxFen,
		IssuedAt: time.Now().In(tax.Beijing).Format("2006-01-02 15:04")}
	if id, err := h.Store.IdentityOfOpenID(c.Request.Context(), c.GetString("openid")); err == nil {
		s.Name, s.IDNumber = pii.MaskName(id.Name), pii.MaskIDNumber(id.IDNumber)
	}
	for _, m := range months {
		s.Months = append(s.Months, statement.Month{Period: m.Period, Orders: len(m.Orders), GrossFen: m.GrossFen, TaxFen: m.TaxFen, NetFen: m.NetFen})
	}
	var fonts statement.Fonts
	if h.StatementFonts != nil {
		fonts = h.StatementFonts()
	}
	file, err := statement.PDF(s, fonts)
	if errors.Is(err, statement.ErrNoFont) {
		abort(c, problem(http.StatusServiceUnavailable, "STATEMENT_UNAVAILABLE", "暂时无法生成PDF收入明细（RECEIPTFLOW_PDF_FONT / RECEIPTFLOW_PDF_LATIN_FONT are not set up）"))
		return
	}
	if err != nil {
		h.Logger.Error("income statement pdf", "err", err)
		abort(c, errUnavailable)
		return
	}
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="income-%d.pdf"`, year))
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/pdf", file)
}
