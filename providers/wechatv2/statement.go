package wechatv2

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/wechatbill"
)

// PathDownloadBill is the trade bill download (no client certificate).
const PathDownloadBill = "/pay/downloadbill"

var _ providers.StatementSource = (*Adapter)(nil)

// DownloadStatement implements providers.StatementSource with
// /pay/downloadbill: bill_type ALL (payments and refunds), tar_type GZIP.
// In service-provider mode sub_mch_id narrows the bill to the channel's
// sub-merchant. The answer is the bill itself, or an unsigned XML failure
// (No Bill Exist, Bill Creating, ...) even though GZIP was asked. The bill
// is spooled to a temporary file, then parsed.
func (a *Adapter) DownloadStatement(ctx context.Context, day providers.Day, _ *time.Location, fn func(providers.StatementRow) error) (providers.StatementSummary, error) {
	var none providers.StatementSummary
	f := a.baseFields()
	if a.cfg.sp() && a.cfg.subAppID != "" {
		f["sub_appid"] = a.cfg.subAppID
	}
	f["bill_date"] = day.Compact()
	f["bill_type"] = "ALL"
	f["tar_type"] = "GZIP"
	s, err := sign(f, a.cfg.apiKey, a.cfg.signType)
	if err != nil {
		return none, providers.Rejected("%v", err)
	}
	f["sign"] = s
	body := encodeXML(f)
	resp, err := a.http.Do(func() (*resty.Response, error) {
		return a.http.R(ctx).
			SetDoNotParseResponse(true).
			SetHeader("Content-Type", "text/xml; charset=utf-8").
			SetBody(body).
			Post(a.ch.BaseURL + PathDownloadBill)
	})
	if resp != nil && resp.RawBody() != nil {
		defer resp.RawBody().Close()
	}
	if err != nil {
		return none, err
	}
	if resp.StatusCode() != http.StatusOK {
		return none, providers.Errorf(providers.ErrCodeUnavailable, "", "%s: HTTP %d", PathDownloadBill, resp.StatusCode())
	}
	spool, err := providers.SpoolStatement(resp.RawBody())
	if err != nil {
		return none, providers.Unavailable(err)
	}
	defer spool.Close()
	br := bufio.NewReader(spool)
	if wechatbill.IsErrorAnswer(br) {
		return none, wechatbill.ReadErrorAnswer(br)
	}
	sum, err := a.ParseStatement(br, fn)
	if errors.Is(err, providers.ErrBadStatement) {
		return sum, &providers.Error{Code: providers.ErrCodeBadResponse, Message: PathDownloadBill, Err: err}
	}
	return sum, err
}
