package wechatv3

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/wechatbill"
)

// Trade bills (wechatpay.md §10.2).
const (
	pathTradeBill    = "/v3/bill/tradebill"
	pathBillDownload = "/v3/billdownload/"
)

var _ providers.StatementSource = (*Adapter)(nil)

// billHosts are WeChat's API hosts a download_url may point at.
var billHosts = map[string]bool{"api.mch.weixin.qq.com": true, "api2.mch.weixin.qq.com": true}

var sha1Hex = regexp.MustCompile(`^[0-9a-fA-F]{40}$`)

type billAnswer struct {
	HashType    string `json:"hash_type"`
	HashValue   string `json:"hash_value"`
	DownloadURL string `json:"download_url"`
}

// DownloadStatement implements providers.StatementSource: GET
// /v3/bill/tradebill (bill_type ALL, tar_type GZIP; partners name the
// sub_mchid), then the download_url as returned, signed like any request.
// The file's answer carries no WeChat Pay signature; its SHA-1 (of the
// bill before compression) must equal hash_value before any row is used.
func (p *Adapter) DownloadStatement(ctx context.Context, day providers.Day, _ *time.Location, fn func(providers.StatementRow) error) (providers.StatementSummary, error) {
	var none providers.StatementSummary
	q := url.Values{"bill_date": {day.String()}, "bill_type": {"ALL"}, "tar_type": {"GZIP"}}
	if p.cfg.partner {
		q.Set("sub_mchid", p.cfg.subMchid)
	}
	var ans billAnswer
	if err := p.call(ctx, http.MethodGet, pathTradeBill+"?"+q.Encode(), nil, &ans); err != nil {
		return none, statementError(err)
	}
	if !strings.EqualFold(ans.HashType, "SHA1") || !sha1Hex.MatchString(ans.HashValue) {
		return none, providers.Errorf(providers.ErrCodeBadResponse, "", "tradebill: hash %q %q is not a SHA1 digest", ans.HashType, ans.HashValue)
	}
	if err := p.checkDownloadURL(ans.DownloadURL); err != nil {
		return none, err
	}
	resp, err := p.http.Do(func() (*resty.Response, error) {
		return p.http.R(ctx).SetDoNotParseResponse(true).Get(ans.DownloadURL)
	})
	if resp != nil && resp.RawBody() != nil {
		defer resp.RawBody().Close()
	}
	if err != nil {
		return none, err
	}
	if resp.StatusCode() != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.RawBody(), 4<<10))
		return none, statementError(mapHTTPError(resp.StatusCode(), body))
	}
	spool, err := providers.SpoolStatement(resp.RawBody())
	if err != nil {
		return none, providers.Unavailable(err)
	}
	defer spool.Close()
	if err := checkBillHash(spool, ans.HashValue); err != nil {
		return none, err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return none, providers.Unavailable(err)
	}
	sum, err := p.ParseStatement(bufio.NewReader(spool), fn)
	if errors.Is(err, providers.ErrBadStatement) {
		return sum, &providers.Error{Code: providers.ErrCodeBadResponse, Message: "billdownload", Err: err}
	}
	return sum, err
}

// checkBillHash compares the SHA-1 of the bill (decompressed) with want.
func checkBillHash(r io.Reader, want string) error {
	zr, err := wechatbill.Decompress(r)
	if err != nil {
		return &providers.Error{Code: providers.ErrCodeBadResponse, Message: "billdownload", Err: err}
	}
	h := sha1.New()
	if _, err := io.Copy(h, zr); err != nil {
		return providers.Errorf(providers.ErrCodeBadResponse, "", "billdownload: unreadable file: %v", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, want) {
		return &providers.Error{Code: providers.ErrCodeBadResponse, Message: fmt.Sprintf("billdownload: SHA-1 %s, tradebill said %s", got, want), Err: providers.ErrVerification}
	}
	return nil
}

// checkDownloadURL refuses a download_url off WeChat's API hosts (or the
// channel's configured base): the request to it carries our signature.
func (p *Adapter) checkDownloadURL(raw string) error {
	u, err := url.Parse(raw)
	bad := providers.Errorf(providers.ErrCodeBadResponse, "", "tradebill: download_url %q is not on the API host", raw)
	if err != nil || u.User != nil {
		return bad
	}
	base := providers.FirstNonEmpty(strings.TrimRight(p.ch.BaseURL, "/"), DefaultBaseURL)
	b, err := url.Parse(base)
	if err != nil {
		return bad
	}
	sameBase := u.Scheme == b.Scheme && u.Host == b.Host && strings.HasPrefix(u.Path, strings.TrimRight(b.Path, "/")+pathBillDownload)
	wechat := u.Scheme == "https" && billHosts[u.Host] && strings.HasPrefix(u.Path, pathBillDownload)
	if !sameBase && !wechat {
		return bad
	}
	return nil
}

// statementError turns tradebill's codes into the statement errors.
func statementError(err error) error {
	var pe *providers.Error
	if errors.As(err, &pe) {
		switch pe.ProviderCode {
		case "NO_STATEMENT_EXIST":
			return fmt.Errorf("%w: %s", providers.ErrNoStatement, pe.Message)
		case "STATEMENT_CREATING":
			return fmt.Errorf("%w: %s", providers.ErrStatementNotReady, pe.Message)
		}
	}
	return err
}
