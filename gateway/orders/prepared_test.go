package orders

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// A notification's transition built wholly ahead (store.OrderChange: the
// event's payload from the order as the compare-and-set will leave it)
// must write what the ordinary transition writes: the payload shows the
// order exactly as stored, numbered as stored, and the inbox row says
// applied. Its twin, paid through the ordinary path, must show the same
// view but for its own numbers.
func TestPreparedTransitionWritesWhatTheOrdinaryOneDoes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		st := storetest.Open(t, driver, store.Options{})
		if err := st.SyncConfig(ctx, []store.Merchant{{ID: "m1"}}, []store.Channel{{ID: "ch-a", MerchantID: "m1", Provider: "wechat_v2", Currency: "CNY"}}); err != nil {
			t.Fatal(err)
		}
		svc := New(st, []*Merchant{{ID: "m1", WebhookURL: "https://merchant.example/hook"}}, nil, slog.New(slog.DiscardHandler))
		created := time.Date(2026, 12, 4, 9, 0, 0, 123456789, time.UTC)
		order := func(no string) *store.Order {
			o := &store.Order{ID: store.NewID("ord"), MerchantID: "m1", ChannelID: "ch-a", Provider: "wechat_v2", OutTradeNo: no,
				AmountMinor: 1234, Currency: "CNY", Status: "PAYING", RequestHash: "h", Description: "coffee", PayerOpenID: "oUser",
				Metadata: `{"table":7}`, PayParams: `{"package":"prepay_id=wx1"}`, ExpiresAt: created.Add(2 * time.Hour),
				NextPollAt: ptrTo(store.DueIn(time.Hour)), Version: 1, CreatedAt: created, UpdatedAt: created}
			if err := st.InsertOrder(ctx, o); err != nil {
				t.Fatal(err)
			}
			return o
		}
		paid := func(no string) providers.OrderState {
			return providers.OrderState{Status: providers.OrderPaid, ProviderStatus: "SUCCESS", TransactionID: "4200" + no,
				ProviderTradeNo: "P" + no, Amount: providers.Money{Minor: 1234, Currency: "CNY"},
				PaidAt: time.Date(2026, 12, 4, 9, 1, 2, 0, time.UTC)}
		}

		prepared, ordinary := order("PREP0001"), order("ORDI0001")
		inbox := &store.Notification{ChannelID: "ch-a", Provider: "wechat_v2", Method: "POST", Path: "/notify/ch-a", Headers: "{}",
			Body: []byte("<xml/>"), RemoteAddr: "127.0.0.1:1", Verified: true, Kind: "payment", ReceivedAt: time.Now().UTC()}
		if a, ok := svc.prepared(ctx, prepared, mustFields(t, svc, prepared, paid("PREP0001")), orderEvent(providers.OrderPaid), Source{Name: "notify", Inbox: inbox}); !ok || a.change == nil {
			t.Fatal("a payment notification's transition was not prepared")
		}
		got, moved, err := svc.ApplyOrderReport(ctx, prepared, paid("PREP0001"), Source{Name: "notify", Inbox: inbox})
		if err != nil || !moved || got.Status != "PAID" {
			t.Fatalf("prepared: moved %v err %v order %+v", moved, err, got)
		}
		if _, moved, err := svc.ApplyOrderReport(ctx, ordinary, paid("ORDI0001"), Source{Name: "poll"}); err != nil || !moved {
			t.Fatalf("ordinary: moved %v err %v", moved, err)
		}

		view := func(o *store.Order) map[string]any {
			stored, err := st.OrderByID(ctx, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			var events []store.MerchantEvent
			err = st.DB().Where("order_id = ?", o.ID).Find(&events).Error
			if err != nil || len(events) != 1 {
				t.Fatalf("events of %s: %v %d", o.OutTradeNo, err, len(events))
			}
			var p EventPayload
			var data map[string]any
			if err := json.Unmarshal(events[0].Payload, &p); err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(p.Data)
			_ = json.Unmarshal(raw, &data)
			var stored2 map[string]any
			b, _ := json.Marshal(ViewOrder(stored))
			_ = json.Unmarshal(b, &stored2)
			want, _ := json.Marshal(stored2) // both with their keys sorted
			if !bytes.Equal(raw, want) {
				t.Errorf("%s: the event shows\n%s\nthe order stored is\n%s", o.OutTradeNo, raw, want)
			}
			if p.Sequence != events[0].Sequence || p.Sequence != 1 || p.OrderStatus != stored.Status {
				t.Errorf("%s: payload numbered %d (%s), row %d, order %s", o.OutTradeNo, p.Sequence, p.OrderStatus, events[0].Sequence, stored.Status)
			}
			return data
		}
		pv, ov := view(prepared), view(ordinary)
		for _, k := range []string{"id", "out_trade_no", "provider_trade_no", "transaction_id", "updated_at"} {
			delete(pv, k)
			delete(ov, k)
		}
		pj, _ := json.Marshal(pv)
		oj, _ := json.Marshal(ov)
		if !bytes.Equal(pj, oj) {
			t.Errorf("the two paths show the order differently:\nprepared %s\nordinary %s", pj, oj)
		}
		if got.Version != 2 {
			t.Errorf("the caller's copy is at version %d, want 2", got.Version)
		}
		// The caller's copy is the order as stored (on SQLite it is the
		// prediction, not read back).
		stored, err := st.OrderByID(ctx, prepared.ID)
		if err != nil {
			t.Fatal(err)
		}
		gj, _ := json.Marshal(ViewOrder(got))
		sj, _ := json.Marshal(ViewOrder(stored))
		if !bytes.Equal(gj, sj) || (got.NextPollAt == nil) != (stored.NextPollAt == nil) {
			t.Errorf("the caller's copy of the order\n%s (next poll %v)\nthe order stored\n%s (next poll %v)", gj, got.NextPollAt, sj, stored.NextPollAt)
		}
		var n []store.Notification
		err = st.DB().Where("channel_id = ?", "ch-a").Find(&n).Error
		if err != nil || len(n) != 1 || n[0].Outcome != store.OutcomeApplied || n[0].OrderID != prepared.ID {
			t.Fatalf("inbox: %v %+v", err, n)
		}
	})
}

func mustFields(t *testing.T, s *Service, o *store.Order, rep providers.OrderState) map[string]any {
	t.Helper()
	f, _, _, err := s.orderChange(o, rep, Source{Name: "notify"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func ptrTo[T any](v T) *T { return &v }
