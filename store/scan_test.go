package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// TestRowScanReadsWhatGormReads: the store's own scan (column straight
// into field) fills a model exactly as gorm's does, for rows with every
// nullable column set and with none, for a SELECT and for a
// compare-and-set's RETURNING; a value database/sql cannot put in its
// field (a NULL for a plain string) falls back to gorm's conversion.
func TestRowScanReadsWhatGormReads(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		at := time.Date(2026, 12, 4, 9, 30, 1, 123456000, time.UTC)
		ptn, txn := "P0001", "4200000001"
		due := store.DBTime{Time: at.Add(time.Hour)}
		full := &store.Order{ID: store.NewID("ord"), MerchantID: "m1", ChannelID: "ch-a", Provider: "wechat_v2", OutTradeNo: "FULL0001",
			ProviderTradeNo: &ptn, TransactionID: &txn, AmountMinor: 1234, Currency: "CNY", Status: "PAID", ProviderStatus: "SUCCESS",
			Description: "coffee", PayerOpenID: "oUser", Metadata: `{"table":7}`, PayParams: `{"package":"prepay_id=wx1"}`,
			RequestHash: "h", ExpiresAt: at.Add(2 * time.Hour), PaidAt: &at, NextPollAt: &due, Version: 3, CreatedAt: at, UpdatedAt: at}
		bare := &store.Order{ID: store.NewID("ord"), MerchantID: "m1", ChannelID: "ch-a", Provider: "wechat_v2", OutTradeNo: "BARE0001",
			AmountMinor: 1, Currency: "CNY", Status: "PAYING", RequestHash: "h", ExpiresAt: at, Version: 1, CreatedAt: at, UpdatedAt: at}
		for _, o := range []*store.Order{full, bare} {
			if err := st.InsertOrder(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		event := &store.MerchantEvent{MerchantID: "m1", DedupeKey: "d1", Type: "order.paid", OrderID: full.ID, Sequence: 1,
			URL: "https://merchant.example/hook", Payload: []byte(`{"a":1}`), CreatedAt: at, UpdatedAt: at}
		if err := st.InsertEvent(ctx, event); err != nil {
			t.Fatal(err)
		}

		viaGorm := func(dest any, id string) {
			t.Helper()
			if err := st.DB().Where("id = ?", id).Take(dest).Error; err != nil {
				t.Fatal(err)
			}
		}
		for _, o := range []*store.Order{full, bare} {
			var got, want store.Order
			if err := st.RawRead(ctx, &got, "SELECT * FROM orders WHERE id = ?", o.ID); err != nil {
				t.Fatal(err)
			}
			viaGorm(&want, o.ID)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("order %s:\nscanned %+v\ngorm    %+v", o.OutTradeNo, got, want)
			}
		}
		var events []store.MerchantEvent
		if err := st.RawRead(ctx, &events, "SELECT * FROM merchant_events WHERE id = ?", event.ID); err != nil || len(events) != 1 {
			t.Fatalf("events: %v %d", err, len(events))
		}
		var wantEvent store.MerchantEvent
		viaGorm(&wantEvent, event.ID)
		if !reflect.DeepEqual(events[0], wantEvent) {
			t.Errorf("event:\nscanned %+v\ngorm    %+v", events[0], wantEvent)
		}

		// A compare-and-set's RETURNING, onto the caller's copy.
		held := *bare
		if err := st.CasReturning(ctx, "orders", &held, bare.ID, bare.Version, map[string]any{"provider_trade_no": "P0002", "status": "CLOSED"}); err != nil {
			t.Fatal(err)
		}
		var stored store.Order
		viaGorm(&stored, bare.ID)
		// As JSON: the columns the statement does not return keep the
		// caller's own time values, equal instants in another *Location.
		hj, _ := json.Marshal(held)
		sj, _ := json.Marshal(stored)
		if string(hj) != string(sj) {
			t.Errorf("after the compare-and-set:\ncaller's copy %s\nstored        %s", hj, sj)
		}

		// NULL for a plain string: database/sql refuses it, gorm reads "".
		var odd store.Order
		if err := st.RawRead(ctx, &odd, "SELECT id, NULL AS description, amount_minor FROM orders WHERE id = ?", full.ID); err != nil {
			t.Fatalf("NULL into a string field: %v", err)
		}
		if odd.ID != full.ID || odd.Description != "" || odd.AmountMinor != 1234 {
			t.Errorf("NULL into a string field: %+v", odd)
		}

		if driver != "postgres" {
			return
		}
		// PostgreSQL's reads sent together, scanned by pgx: the same rows,
		// and a missing one is not found. pgx will not scan a NULL into a
		// plain string: that group is read again one by one, through
		// database/sql and gorm, and still reads the same.
		nulled := &store.Order{ID: store.NewID("ord"), MerchantID: "m1", ChannelID: "ch-a", Provider: "wechat_v2", OutTradeNo: "NULL0001",
			AmountMinor: 1, Currency: "CNY", Status: "PAYING", RequestHash: "h", ExpiresAt: at, Version: 1, CreatedAt: at, UpdatedAt: at}
		if err := st.InsertOrder(ctx, nulled); err != nil {
			t.Fatal(err)
		}
		if err := st.DB().Exec("UPDATE orders SET provider_status = NULL WHERE id = ?", nulled.ID).Error; err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			ids   []string
			alone bool
		}{
			{[]string{full.ID, bare.ID, "ord_missing"}, false},
			{[]string{full.ID, nulled.ID, bare.ID}, true},
		} {
			got, alone, errs := st.ReadOrdersTogether(tc.ids)
			for i, id := range tc.ids {
				if alone[i] != tc.alone {
					t.Errorf("order %s read alone: %v, want %v", id, alone[i], tc.alone)
				}
				if id == "ord_missing" {
					if !errors.Is(errs[i], store.ErrNotFound) {
						t.Errorf("a missing order read together: %v, want ErrNotFound", errs[i])
					}
					continue
				}
				var want store.Order
				viaGorm(&want, id)
				if errs[i] != nil || !reflect.DeepEqual(got[i], want) {
					t.Errorf("read together, order %s (%v):\nscanned %+v\ngorm    %+v", id, errs[i], got[i], want)
				}
			}
		}
	})
}
