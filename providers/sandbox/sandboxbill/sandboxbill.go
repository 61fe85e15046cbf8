// Package sandboxbill writes WeChat Pay trade bills (the ALL layout of the
// current format page, wechatpay.md §10.1) for the WeChat simulators. It is
// the simulators' own code, written apart from the adapters' parser
// (providers/wechatbill), so one mistake cannot pass on both sides.
package sandboxbill

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Header is the 27-column ALL header, in the documented order.
var Header = []string{"交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识",
	"交易类型", "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "微信退款单号", "商户退款单号", "退款金额",
	"充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费", "费率", "订单金额", "申请退款金额", "费率备注"}

// SummaryHeader is the ALL summary header.
var SummaryHeader = []string{"总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额", "申请退款总金额"}

// beijing is the bill's zone.
var beijing = time.FixedZone("CST", 8*3600)

// FeeRateMilli is the simulated fee: 0.60% (6 per mille).
const FeeRateMilli = 6

// Line is one payment (Refund false) or refund row. Amounts are fen.
type Line struct {
	Time                      time.Time
	AppID, MchID, SubMchID    string
	TransactionID, OutTradeNo string
	OpenID, Body              string
	Currency                  string
	Refund                    bool
	AmountFen                 int64 // payment: order amount; refund: refund amount
	RefundID, OutRefundNo     string
	RefundStatus              string // SUCCESS, PROCESSING
}

// yuan formats fen as yuan with two decimals.
func yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}

// fee5 formats a fee in units of 0.00001 yuan with five decimals.
func fee5(units int64) string {
	sign := ""
	if units < 0 {
		sign, units = "-", -units
	}
	return fmt.Sprintf("%s%d.%05d", sign, units/100000, units%100000)
}

// feeUnits is the fee of an amount in 0.00001 yuan: fen * 1000 * 0.006.
func feeUnits(fen int64) int64 { return fen * FeeRateMilli }

// Write renders the bill: lines sorted by time, backtick-prefixed fields,
// CRLF-free "\n" line ends, and the summary line that adds them up.
func Write(lines []Line) []byte {
	sorted := append([]Line(nil), lines...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Time.Before(sorted[j].Time) })
	var b bytes.Buffer
	b.WriteString(strings.Join(Header, ",") + "\n")
	var settled, refunds, fees, orders int64
	for _, l := range sorted {
		cur := l.Currency
		if cur == "" {
			cur = "CNY"
		}
		sub := l.SubMchID
		if sub == "" {
			sub = "0"
		}
		f := []string{l.Time.In(beijing).Format("2006-01-02 15:04:05"), l.AppID, l.MchID, sub, "", l.TransactionID, l.OutTradeNo, l.OpenID, "JSAPI"}
		if l.Refund {
			fee := -feeUnits(l.AmountFen)
			f = append(f, "REFUND", "OTHERS", cur, "0.00", "0.00", l.RefundID, l.OutRefundNo, yuan(l.AmountFen), "0.00", "ORIGINAL", l.RefundStatus,
				l.Body, "", fee5(fee), "0.60%", "0.00", yuan(l.AmountFen), "")
			refunds += l.AmountFen
			fees += fee
		} else {
			fee := feeUnits(l.AmountFen)
			f = append(f, "SUCCESS", "OTHERS", cur, yuan(l.AmountFen), "0.00", "0", "0", "0.00", "0.00", "", "",
				l.Body, "", fee5(fee), "0.60%", yuan(l.AmountFen), "0.00", "")
			settled += l.AmountFen
			orders += l.AmountFen
			fees += fee
		}
		b.WriteString("`" + strings.Join(f, ",`") + "\n")
	}
	b.WriteString(strings.Join(SummaryHeader, ",") + "\n")
	sum := []string{fmt.Sprint(len(sorted)), yuan(settled), yuan(refunds), "0.00", fee5(fees), yuan(orders), yuan(refunds)}
	b.WriteString("`" + strings.Join(sum, ",`") + "\n")
	return b.Bytes()
}

// Gzip compresses a bill as tar_type=GZIP answers it.
func Gzip(bill []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write(bill)
	_ = zw.Close()
	return b.Bytes()
}

// OnDay reports whether t falls on the Beijing date day ("20060102").
func OnDay(t time.Time, day string) bool {
	return !t.IsZero() && t.In(beijing).Format("20060102") == day
}

// DayFormat parses a Beijing date in layout.
func ParseDay(layout, s string) (time.Time, error) {
	return time.ParseInLocation(layout, s, beijing)
}

// Today is the Beijing date of now ("20060102").
func Today(now time.Time) string { return now.In(beijing).Format("20060102") }
