package cloudpay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/wechatbill"
)

// PathDownloadBill is cloud pay's trade bill download (wechatpay.md §10.3).
const PathDownloadBill = "/_/pay/downloadbill"

var _ providers.StatementSource = (*Adapter)(nil)

// DownloadStatement implements providers.StatementSource: POST
// {bill_date, bill_type ALL, sub_mch_id}. respdata is the bill text as a
// JSON string, or (no bill, still creating, ...) the v2 failure object.
// The bill travels inside JSON, so it is held in memory once while read
// (the spooled answer is decoded as one document).
func (p *Adapter) DownloadStatement(ctx context.Context, day providers.Day, _ *time.Location, fn func(providers.StatementRow) error) (providers.StatementSummary, error) {
	var none providers.StatementSummary
	raw, err := json.Marshal(map[string]string{"bill_date": day.Compact(), "bill_type": "ALL", "sub_mch_id": p.subMchID})
	if err != nil {
		return none, err
	}
	resp, err := p.http.Do(func() (*resty.Response, error) {
		return p.http.R(ctx).SetDoNotParseResponse(true).SetHeader("Content-Type", "application/json").
			SetHeader("Accept", "application/json").SetBody(raw).Post(PathDownloadBill)
	})
	if resp != nil && resp.RawBody() != nil {
		defer resp.RawBody().Close()
	}
	if err != nil {
		return none, err
	}
	if s := resp.StatusCode(); s != http.StatusOK {
		return none, providers.Errorf(providers.ErrCodeUnavailable, "", "%s: HTTP %d", PathDownloadBill, s)
	}
	spool, err := providers.SpoolStatement(resp.RawBody())
	if err != nil {
		return none, providers.Unavailable(err)
	}
	defer spool.Close()
	var env envelope
	if err := json.NewDecoder(spool).Decode(&env); err != nil || env.ErrCode == nil {
		return none, providers.Errorf(providers.ErrCodeBadResponse, "", "%s: not an open-interface answer", PathDownloadBill)
	}
	if *env.ErrCode != 0 {
		code := providers.ErrCodeRejected
		if *env.ErrCode == -1 {
			code = providers.ErrCodeUnavailable
		}
		return none, providers.Errorf(code, strconv.FormatInt(*env.ErrCode, 10), "%s: %s", PathDownloadBill, env.ErrMsg)
	}
	data := bytes.TrimSpace(env.RespData)
	if len(data) > 0 && data[0] == '{' {
		var f struct {
			ReturnCode string `json:"return_code"`
			ReturnMsg  string `json:"return_msg"`
			ErrorCode  string `json:"error_code"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			return none, providers.Errorf(providers.ErrCodeBadResponse, "", "%s: respdata: %v", PathDownloadBill, err)
		}
		return none, wechatbill.Failure(f.ReturnCode, f.ReturnMsg, f.ErrorCode)
	}
	var bill string
	if err := json.Unmarshal(data, &bill); err != nil {
		return none, providers.Errorf(providers.ErrCodeBadResponse, "", "%s: respdata is neither the bill nor a failure", PathDownloadBill)
	}
	env.RespData = nil
	sum, err := wechatbill.Parse(strings.NewReader(bill), fn)
	if errors.Is(err, providers.ErrBadStatement) {
		return sum, &providers.Error{Code: providers.ErrCodeBadResponse, Message: PathDownloadBill, Err: err}
	}
	return sum, err
}
