package store_test

import (
	"testing"
	"time"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

func TestProviderCertificates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		// The process clock is a day off: the set's age follows the database's clock.
		st := storetest.Open(t, driver, store.Options{Now: func() time.Time { return time.Now().Add(24 * time.Hour) }})
		nb := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		a := store.ProviderCertificate{Serial: "AAAA", PEM: "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n", NotBefore: nb, NotAfter: nb.AddDate(5, 0, 0)}
		b := store.ProviderCertificate{Serial: "BBBB", PEM: "-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n", NotBefore: nb.AddDate(4, 6, 0), NotAfter: nb.AddDate(9, 6, 0)}

		got, _, err := st.ProviderCertificates(ctx, "1900000109@https://api.mch.weixin.qq.com")
		if err != nil || len(got) != 0 {
			t.Fatalf("empty store: %v, %v", got, err)
		}
		if err := st.ReplaceProviderCertificates(ctx, "1900000109@https://api.mch.weixin.qq.com", []store.ProviderCertificate{b, a}); err != nil {
			t.Fatal(err)
		}
		if err := st.ReplaceProviderCertificates(ctx, "1900000100@https://api.mch.weixin.qq.com", []store.ProviderCertificate{a}); err != nil {
			t.Fatal(err)
		}
		got, age, err := st.ProviderCertificates(ctx, "1900000109@https://api.mch.weixin.qq.com")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Serial != "AAAA" || got[1].Serial != "BBBB" || got[1].PEM != b.PEM ||
			!got[0].NotBefore.Equal(a.NotBefore) || !got[1].NotAfter.Equal(b.NotAfter) {
			t.Fatalf("set = %+v", got)
		}
		if age < 0 || age > 5*time.Second {
			t.Fatalf("age %v of a set just stored (database clock)", age)
		}

		// A refresh replaces the whole set: B stays, A is gone; the other owner is untouched.
		time.Sleep(50 * time.Millisecond)
		if err := st.ReplaceProviderCertificates(ctx, "1900000109@https://api.mch.weixin.qq.com", []store.ProviderCertificate{b}); err != nil {
			t.Fatal(err)
		}
		got, _, err = st.ProviderCertificates(ctx, "1900000109@https://api.mch.weixin.qq.com")
		if err != nil || len(got) != 1 || got[0].Serial != "BBBB" {
			t.Fatalf("after replace: %+v, %v", got, err)
		}
		other, _, err := st.ProviderCertificates(ctx, "1900000100@https://api.mch.weixin.qq.com")
		if err != nil || len(other) != 1 || other[0].Serial != "AAAA" {
			t.Fatalf("other owner: %+v, %v", other, err)
		}
		// Duplicate serials in one set are refused and change nothing.
		if err := st.ReplaceProviderCertificates(ctx, "1900000109@https://api.mch.weixin.qq.com", []store.ProviderCertificate{a, a}); err == nil {
			t.Fatal("duplicate serial stored")
		}
		got, _, _ = st.ProviderCertificates(ctx, "1900000109@https://api.mch.weixin.qq.com")
		if len(got) != 1 || got[0].Serial != "BBBB" {
			t.Fatalf("a failed replace changed the set: %+v", got)
		}
	})
}
