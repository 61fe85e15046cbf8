package store

import (
	"context"
	"fmt"
	"time"
)

// ProviderCertificate is one certificate of a set an adapter downloaded
// from its provider (WeChat Pay v3 platform certificates), shared by every
// replica. Owner names the set (the calling merchant id and the
// provider's host); a refresh replaces the whole set.
type ProviderCertificate struct {
	Owner     string    `gorm:"primaryKey;size:255"`
	Serial    string    `gorm:"primaryKey;size:128"`
	PEM       string    `gorm:"type:text;not null"`
	NotBefore time.Time `gorm:"not null"`
	NotAfter  time.Time `gorm:"not null"`
	StoredMS  int64     `gorm:"not null"` // Unix milliseconds on the database's clock
}

// ProviderCertificates returns owner's set (oldest first) and how long
// ago it was stored, on the database's clock.
func (s *Store) ProviderCertificates(ctx context.Context, owner string) ([]ProviderCertificate, time.Duration, error) {
	var rows []struct {
		ProviderCertificate
		AgeMS int64
	}
	err := s.r.WithContext(ctx).Raw(
		"SELECT owner, serial, pem, not_before, not_after, stored_ms, "+s.dbNowMS()+" - stored_ms AS age_ms "+
			"FROM provider_certificates WHERE owner = ? ORDER BY not_before, serial", owner).Scan(&rows).Error
	if err != nil {
		return nil, 0, fmt.Errorf("provider certificates of %s: %w", owner, err)
	}
	out := make([]ProviderCertificate, 0, len(rows))
	var age time.Duration
	for i, r := range rows {
		out = append(out, r.ProviderCertificate)
		if a := time.Duration(r.AgeMS) * time.Millisecond; i == 0 || a < age {
			age = a
		}
	}
	return out, age, nil
}

// ReplaceProviderCertificates makes certs owner's whole set, stamped with
// the database's clock, in one transaction.
func (s *Store) ReplaceProviderCertificates(ctx context.Context, owner string, certs []ProviderCertificate) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := tx.w.Exec("DELETE FROM provider_certificates WHERE owner = ?", owner).Error; err != nil {
			return fmt.Errorf("replace provider certificates of %s: %w", owner, err)
		}
		for _, c := range certs {
			err := tx.w.Exec("INSERT INTO provider_certificates (owner, serial, pem, not_before, not_after, stored_ms) VALUES (?, ?, ?, ?, ?, "+s.dbNowMS()+")",
				owner, c.Serial, c.PEM, c.NotBefore.UTC(), c.NotAfter.UTC()).Error
			if err != nil {
				return fmt.Errorf("store provider certificate %s of %s: %w", c.Serial, owner, translate(err))
			}
		}
		return nil
	})
}
