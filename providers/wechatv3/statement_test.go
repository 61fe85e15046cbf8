package wechatv3_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/providertest"
	"github.com/paygate/paygate/providers/sandbox"
	"github.com/paygate/paygate/providers/wechatbill"
	"github.com/paygate/paygate/providers/wechatv3"
)

// Through the simulator: the day's bill carries the paid order and its
// refund, in direct and partner mode.
func TestDownloadStatementFromSandbox(t *testing.T) {
	for _, ch := range []providers.Channel{
		{ID: "bill-v3", Kind: wechatv3.Kind, Currency: "CNY", Params: demoParams(nil)},
		{ID: "bill-v3-partner", Kind: wechatv3.Kind, Currency: "CNY", Params: partnerParams(nil)},
	} {
		t.Run(ch.ID, func(t *testing.T) {
			cfg := providertest.Config{Channel: ch, Order: providers.CreateOrderRequest{PayerOpenID: demoOpenID, PayerAppID: ch.Params.String("sub_appid")}}
			h := providertest.Start(t, cfg)
			ctx := context.Background()
			src := h.Provider.(providers.StatementSource)
			today := providers.DayOf(time.Now().In(wechatbill.Location))
			read := func() ([]providers.StatementRow, providers.StatementSummary, error) {
				var rows []providers.StatementRow
				sum, err := src.DownloadStatement(ctx, today, nil, func(r providers.StatementRow) error { rows = append(rows, r); return nil })
				return rows, sum, err
			}
			if _, _, err := read(); !errors.Is(err, providers.ErrNoStatement) {
				t.Fatalf("empty day: %v", err)
			}
			no, ref := newOrder(t, h, cfg)
			if _, err := h.Sandbox.Pay(ctx, ch.ID, no, sandboxSilent()); err != nil {
				t.Fatal(err)
			}
			if _, err := h.Provider.Refund(ctx, providers.RefundRequest{Order: ref, OutRefundNo: no + "R", Amount: providers.Money{Minor: 100, Currency: "CNY"}}); err != nil {
				t.Fatal(err)
			}
			rows, sum, err := read()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 2 || rows[0].OutTradeNo != no || rows[0].Amount != ref.Amount || rows[1].OutRefundNo != no+"R" || sum.Rows != 2 {
				t.Fatalf("rows %+v summary %+v", rows, sum)
			}
			_ = h.Sandbox.SetStatementReady(ch.ID, false)
			if _, _, err := read(); !errors.Is(err, providers.ErrStatementNotReady) {
				t.Fatalf("held: %v", err)
			}
		})
	}
}

func sandboxSilent() sandbox.PayOptions { f := false; return sandbox.PayOptions{Notify: &f} }
