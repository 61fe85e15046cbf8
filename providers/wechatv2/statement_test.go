package wechatv2_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/providertest"
	"github.com/paygate/paygate/providers/sandbox"
	"github.com/paygate/paygate/providers/wechatbill"
)

func download(t *testing.T, h *providertest.Harness, day providers.Day) ([]providers.StatementRow, providers.StatementSummary, error) {
	t.Helper()
	src := h.Provider.(providers.StatementSource)
	var rows []providers.StatementRow
	sum, err := src.DownloadStatement(context.Background(), day, nil, func(r providers.StatementRow) error {
		rows = append(rows, r)
		return nil
	})
	return rows, sum, err
}

// The bill downloaded from the simulator through /pay/downloadbill (GZIP,
// signed with the channel's sign type) carries the paid order and its
// refund, adds up to its summary line, and names the channel's numbers;
// in service-provider mode the request names the sub-merchant.
func TestDownloadStatement(t *testing.T) {
	for _, ch := range []providers.Channel{directChannel("bill-direct"), spChannel("bill-sp")} {
		t.Run(ch.ID, func(t *testing.T) {
			h := providertest.Start(t, providertest.Config{Channel: ch})
			ctx := context.Background()
			today := providers.DayOf(time.Now().In(wechatbill.Location))

			if _, _, err := download(t, h, today); !errors.Is(err, providers.ErrNoStatement) {
				t.Fatalf("empty day: %v, want ErrNoStatement", err)
			}
			paid := providertest.NewOutTradeNo("BILL")
			unpaid := providertest.NewOutTradeNo("BILL")
			for _, no := range []string{paid, unpaid} {
				if _, err := h.Provider.CreateOrder(ctx, order(no, 1234, "oPayer0000000000000000000001", "")); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := h.Sandbox.Pay(ctx, ch.ID, paid, sandbox.PayOptions{SkipNotify: true}); err != nil {
				t.Fatal(err)
			}
			st, err := h.Provider.QueryOrder(ctx, providers.OrderRef{OutTradeNo: paid})
			if err != nil {
				t.Fatal(err)
			}
			ref := providers.RefundRequest{Order: providers.OrderRef{OutTradeNo: paid, TransactionID: st.TransactionID, Amount: providers.Money{Minor: 1234, Currency: "CNY"}},
				OutRefundNo: paid + "R", Amount: providers.Money{Minor: 234, Currency: "CNY"}}
			if _, err := h.Provider.Refund(ctx, ref); err != nil {
				t.Fatal(err)
			}

			rows, sum, err := download(t, h, today)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 2 {
				t.Fatalf("%d rows: %+v", len(rows), rows)
			}
			pay, refund := rows[0], rows[1]
			if pay.Kind != providers.StatementPayment || pay.OutTradeNo != paid || pay.TransactionID != st.TransactionID ||
				pay.Amount.Minor != 1234 || pay.Status != "PAID" || pay.Fee.String() != "0.07404" {
				t.Fatalf("payment row %+v", pay)
			}
			if refund.Kind != providers.StatementRefund || refund.OutRefundNo != paid+"R" || refund.Amount.Minor != 234 || refund.ProviderRefundNo == "" {
				t.Fatalf("refund row %+v", refund)
			}
			if !sum.Present || sum.Rows != 2 || sum.Payments.String() != "12.34" || sum.Refunds.String() != "2.34" {
				t.Fatalf("summary %+v", sum)
			}

			// Held back: Bill Creating is "not ready", not "none".
			if err := h.Sandbox.SetStatementReady(ch.ID, false); err != nil {
				t.Fatal(err)
			}
			if _, _, err := download(t, h, today); !errors.Is(err, providers.ErrStatementNotReady) {
				t.Fatalf("held: %v", err)
			}
			_ = h.Sandbox.SetStatementReady(ch.ID, true)
			if _, _, err := download(t, h, today.AddDays(3)); providers.CodeOf(err) != providers.ErrCodeRejected {
				t.Fatalf("future day: %v", err)
			}
		})
	}
}
