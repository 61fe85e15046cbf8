package config

import (
	"regexp"
	"strconv"
	"time"
	_ "time/tzdata" // statement.timezone must load on hosts without a zoneinfo database

	"github.com/paygate/paygate/providers/csvstatement"
)

// Statement is a channel's reconciliation settings:
//
//	statement:
//	  timezone: Asia/Shanghai     # the provider's statement day (default: the provider's own, else UTC)
//	  daily_at: "10:30"           # reconcile yesterday by itself at this time (channels with a statement API)
//	  columns: {...}              # the columns of an acquirer's CSV export, for uploads
type Statement struct {
	Timezone string            `yaml:"timezone"`
	DailyAt  string            `yaml:"daily_at"`
	Columns  *StatementColumns `yaml:"columns"`
	// RefundTypes: values of the type column that mean a refund.
	RefundTypes []string `yaml:"refund_types"`
	// SuccessStatuses: values of the status column that mean settled.
	SuccessStatuses []string `yaml:"success_statuses"`
	// TimeFormat: a Go layout for the time column.
	TimeFormat string `yaml:"time_format"`
	// Delimiter between fields: "," (default), ";", "|" or "\t".
	Delimiter string `yaml:"delimiter"`
}

// StatementColumns name an export's columns by their header.
type StatementColumns struct {
	OutTradeNo       string `yaml:"out_trade_no"`
	ProviderTradeNo  string `yaml:"provider_trade_no"`
	TransactionID    string `yaml:"transaction_id"`
	OutRefundNo      string `yaml:"out_refund_no"`
	ProviderRefundNo string `yaml:"provider_refund_no"`
	Type             string `yaml:"type"`
	Amount           string `yaml:"amount"`
	Currency         string `yaml:"currency"`
	Status           string `yaml:"status"`
	Time             string `yaml:"time"`
	Fee              string `yaml:"fee"`
}

var dailyAt = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)

// Location is the configured zone, or nil.
func (s *Statement) Location() (*time.Location, error) {
	if s == nil || s.Timezone == "" {
		return nil, nil
	}
	return time.LoadLocation(s.Timezone)
}

// DailyOffset is daily_at as time after midnight, or nil.
func (s *Statement) DailyOffset() *time.Duration {
	if s == nil {
		return nil
	}
	m := dailyAt.FindStringSubmatch(s.DailyAt)
	if m == nil {
		return nil
	}
	h, _ := strconv.Atoi(m[1])
	min, _ := strconv.Atoi(m[2])
	d := time.Duration(h)*time.Hour + time.Duration(min)*time.Minute
	return &d
}

// Mapping is the column mapping for uploads, or nil.
func (s *Statement) Mapping() *csvstatement.Mapping {
	if s == nil || s.Columns == nil {
		return nil
	}
	c := s.Columns
	m := &csvstatement.Mapping{
		OutTradeNo: c.OutTradeNo, ProviderTradeNo: c.ProviderTradeNo, TransactionID: c.TransactionID,
		OutRefundNo: c.OutRefundNo, ProviderRefundNo: c.ProviderRefundNo, Type: c.Type, Amount: c.Amount,
		Currency: c.Currency, Status: c.Status, Time: c.Time, Fee: c.Fee,
		RefundTypes: s.RefundTypes, SuccessStatuses: s.SuccessStatuses, TimeFormat: s.TimeFormat,
	}
	switch s.Delimiter {
	case ";":
		m.Delimiter = ';'
	case "|":
		m.Delimiter = '|'
	case "\t", `\t`:
		m.Delimiter = '\t'
	}
	return m
}

func (s *Statement) validate(field string, bad badFunc) {
	if _, err := s.Location(); err != nil {
		bad(field+".timezone", "%q is not an IANA time zone such as Asia/Shanghai or Europe/Amsterdam", s.Timezone)
	}
	if s.DailyAt != "" && !dailyAt.MatchString(s.DailyAt) {
		bad(field+".daily_at", "must be HH:MM (24 h), got %q", s.DailyAt)
	}
	switch s.Delimiter {
	case "", ",", ";", "|", "\t", `\t`:
	default:
		bad(field+".delimiter", "must be \",\", \";\", \"|\" or a tab")
	}
	if s.TimeFormat != "" {
		ref := time.Date(2026, 12, 3, 10, 4, 5, 0, time.UTC)
		if t, err := time.Parse(s.TimeFormat, ref.Format(s.TimeFormat)); err != nil || t.Year() != 2026 || t.Day() != 3 || t.Month() != 12 {
			bad(field+".time_format", "must be a Go layout with year, month and day, such as \"02/01/2006 15:04\"")
		}
	}
	if s.Columns == nil {
		if len(s.RefundTypes) > 0 || len(s.SuccessStatuses) > 0 || s.TimeFormat != "" || s.Delimiter != "" {
			bad(field+".columns", "is required with refund_types, success_statuses, time_format or delimiter")
		}
		return
	}
	if err := s.Mapping().Check(); err != nil {
		bad(field+".columns", "%v", err)
	}
}
