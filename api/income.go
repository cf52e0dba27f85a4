package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/receiptflow/receiptflow/store"
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

var beijing = time.FixedZone("CST", 8*3600)

// myIncome is the payee's income statement for a tax year (收入明细 / 完税): per month the gross paid, the tax
// withheld and the net received, and each order. Only paid orders count: a withholding whose payout is still
// on its way, or was reversed, is not income.
func (h *handlers) myIncome(c *gin.Context) {
	ctx := c.Request.Context()
	year := time.Now().In(beijing).Year()
	if q := c.Query("year"); q != "" {
		y, err := strconv.Atoi(q)
		if err != nil || y < 2000 || y > 2100 {
			abort(c, problem(http.StatusBadRequest, "BAD_REQUEST", "year must be YYYY"))
			return
		}
		year = y
	}
	out := gin.H{"year": year, "grossFen": int64(0), "taxFen": int64(0), "netFen": int64(0), "months": []incomeMonth{}}
	p, err := h.Store.PayeeByOpenID(ctx, c.GetString("openid"))
	if errors.Is(err, store.ErrNotFound) {
		c.JSON(http.StatusOK, out)
		return
	}
	if err != nil {
		abort(c, errUnavailable)
		return
	}
	entries, err := h.Store.TaxEntriesOfYear(ctx, p.ID, year)
	if err != nil {
		h.Logger.Error("income statement: ledger", "err", err)
		abort(c, errUnavailable)
		return
	}
	// Sum each order's rows (a reversal cancels its withholding), then keep the orders that were paid.
	type key struct{ period, order string }
	sums, seen := map[key]*incomeOrder{}, []key{}
	for _, e := range entries {
		k := key{e.Period, e.OrderID}
		if sums[k] == nil {
			sums[k] = &incomeOrder{OrderID: e.OrderID, PayerID: e.PayerID, ServiceItem: e.ServiceItem}
			seen = append(seen, k)
		}
		sums[k].GrossFen += e.IncomeFen
		sums[k].TaxFen += e.TaxFen
	}
	var months []incomeMonth
	var gross, taxFen int64
	for _, k := range seen {
		o := sums[k]
		if o.GrossFen == 0 {
			continue
		}
		order, err := h.Store.Order(ctx, o.OrderID)
		if err != nil {
			h.Logger.Error("income statement: order", "order", o.OrderID, "err", err)
			abort(c, errUnavailable)
			return
		}
		if order.State != store.OrderPaid {
			continue
		}
		o.NetFen = o.GrossFen - o.TaxFen
		if len(months) == 0 || months[len(months)-1].Period != k.period {
			months = append(months, incomeMonth{Period: k.period, Orders: []incomeOrder{}})
		}
		m := &months[len(months)-1]
		m.GrossFen += o.GrossFen
		m.TaxFen += o.TaxFen
		m.NetFen += o.NetFen
		m.Orders = append(m.Orders, *o)
		gross += o.GrossFen
		taxFen += o.TaxFen
	}
	if months != nil {
		out["months"] = months
	}
	out["grossFen"], out["taxFen"], out["netFen"] = gross, taxFen, gross-taxFen
	c.JSON(http.StatusOK, out)
}
