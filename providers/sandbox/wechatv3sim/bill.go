package wechatv3sim

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/paygate/paygate/providers/sandbox"
	"github.com/paygate/paygate/providers/sandbox/sandboxbill"
)

// Trade bills (wechatpay.md §10.2): GET /v3/bill/tradebill answers a
// signed {hash_type, hash_value, download_url}; the download is a GET on
// download_url, signed like any request, whose answer is the bill itself,
// unsigned, gzipped with tar_type=GZIP; hash_value is the SHA-1 of the
// bill before compression. Today's bill is served at once (the sandbox has
// no 09:00 batch) unless SetStatementReady(false) holds it back.
const (
	PathTradeBill = "/v3/bill/tradebill"
	PathBillFile  = "/v3/billdownload/file"
	// BillURLTTL is how long a download_url stays valid.
	BillURLTTL = 5 * time.Minute
)

type billState struct {
	files map[string]*billFile // by token
	held  map[string]bool      // channel id -> STATEMENT_CREATING
}

type billFile struct {
	mchid   string
	body    []byte
	gzip    bool
	expires time.Time
}

// tradeBill answers GET /v3/bill/tradebill?bill_date=&bill_type=&tar_type=[&sub_mchid=].
func (s *Simulator) tradeBill(r *http.Request, m *merchant, q map[string][]string) (int, any, *apiErr) {
	date := first(q, "bill_date")
	day, err := time.ParseInLocation("2006-01-02", date, beijing)
	if err != nil {
		return 0, nil, errf(400, "PARAM_ERROR", "bill_date must be yyyy-MM-dd")
	}
	billType := first(q, "bill_type")
	switch billType {
	case "":
		billType = "ALL"
	case "ALL", "SUCCESS", "REFUND":
	default:
		return 0, nil, errf(400, "PARAM_ERROR", "bill_type must be ALL, SUCCESS or REFUND")
	}
	tar := first(q, "tar_type")
	if tar != "" && tar != "GZIP" {
		return 0, nil, errf(400, "PARAM_ERROR", "tar_type must be GZIP")
	}
	compact := day.Format("20060102")
	if compact > sandboxbill.Today(s.env.Now()) {
		return 0, nil, errf(400, "PARAM_ERROR", "bill_date is in the future")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var accounts []*account
	sub := first(q, "sub_mchid")
	if direct, ok := s.accounts[acctKey{mchid: m.mchid}]; ok {
		if sub != "" {
			return 0, nil, errf(400, "PARAM_ERROR", "sub_mchid is not accepted for a direct merchant")
		}
		accounts = []*account{direct}
	} else {
		for k, a := range s.accounts {
			if k.mchid == m.mchid && (sub == "" || k.subMchid == sub) {
				accounts = append(accounts, a)
			}
		}
		if len(accounts) == 0 {
			return 0, nil, errf(403, "NO_AUTH", "特约商户 %s 与服务商 %s 不存在受理关系", sub, m.mchid)
		}
	}
	var lines []sandboxbill.Line
	for _, a := range accounts {
		for id, held := range s.bills.held {
			if held && s.byChannel[id] == a {
				return 0, nil, errf(400, "STATEMENT_CREATING", "账单生成中，请稍后再试")
			}
		}
		lines = append(lines, a.billLines(compact, billType)...)
	}
	if len(lines) == 0 {
		return 0, nil, errf(400, "NO_STATEMENT_EXIST", "账单文件不存在")
	}
	body := sandboxbill.Write(lines)
	sum := sha1.Sum(body)
	token := randAlnum(48)
	if s.bills.files == nil {
		s.bills.files = map[string]*billFile{}
	}
	s.bills.files[token] = &billFile{mchid: m.mchid, body: body, gzip: tar == "GZIP", expires: s.env.Now().Add(BillURLTTL)}
	// download_url is absolute, on the host and prefix the request came in by.
	prefix := strings.TrimSuffix(strings.SplitN(r.RequestURI, "?", 2)[0], r.URL.Path)
	url := "http://" + r.Host + prefix + PathBillFile + "?token=" + token
	return 200, map[string]string{"hash_type": "SHA1", "hash_value": hex.EncodeToString(sum[:]), "download_url": url}, nil
}

// serveBillFile answers the download: the bill, unsigned.
func (s *Simulator) serveBillFile(w http.ResponseWriter, r *http.Request, m *merchant, reqSerial string) {
	if r.Method != http.MethodGet {
		s.replyErr(w, m, reqSerial, errf(405, "INVALID_REQUEST", "use GET"))
		return
	}
	token := r.URL.Query().Get("token")
	s.mu.Lock()
	f := s.bills.files[token]
	s.mu.Unlock()
	if f == nil || f.mchid != m.mchid || s.env.Now().After(f.expires) {
		s.replyErr(w, m, reqSerial, errf(400, "INVALID_REQUEST", "下载链接已失效 (the download_url is unknown or expired)"))
		return
	}
	w.Header().Set("Request-ID", "sandbox-"+randAlnum(24))
	if f.gzip {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(sandboxbill.Gzip(f.body))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(f.body)
}

// billLines lists an account's payments (by success_time) and refunds (by
// create_time) on a Beijing day ("20060102"). Caller holds s.mu.
func (a *account) billLines(day, billType string) []sandboxbill.Line {
	var out []sandboxbill.Line
	sub := a.key.subMchid
	base := func(o *order) sandboxbill.Line {
		return sandboxbill.Line{AppID: a.appid, MchID: a.key.mchid, SubMchID: sub, TransactionID: o.TransactionID,
			OutTradeNo: o.OutTradeNo, OpenID: o.OpenID, Body: o.Description, Currency: "CNY"}
	}
	if billType != "REFUND" {
		for _, o := range a.orders {
			if t, err := time.Parse(time.RFC3339, o.SuccessTime); err == nil && o.TransactionID != "" && sandboxbill.OnDay(t, day) {
				l := base(o)
				l.Time, l.AmountFen = t, o.Total
				out = append(out, l)
			}
		}
	}
	if billType != "SUCCESS" {
		for _, rf := range a.refunds {
			if t, err := time.Parse(time.RFC3339, rf.CreateTime); err == nil && sandboxbill.OnDay(t, day) {
				l := base(rf.Order)
				l.Refund, l.Time, l.AmountFen = true, t, rf.Refund
				l.RefundID, l.OutRefundNo, l.RefundStatus = rf.RefundID, rf.OutRefundNo, rf.Status
				out = append(out, l)
			}
		}
	}
	return out
}

// AlterOrder implements sandbox.BookEditor.
func (s *Simulator) AlterOrder(channelID, outTradeNo string, change sandbox.BookChange) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byChannel[channelID]
	if a == nil || a.orders[outTradeNo] == nil {
		return fmt.Errorf("%w: %s/%s", sandbox.ErrNotFound, channelID, outTradeNo)
	}
	o := a.orders[outTradeNo]
	if change.Forget {
		delete(a.orders, outTradeNo)
		delete(a.byTxID, o.TransactionID)
		for no, rf := range a.refunds {
			if rf.Order == o {
				delete(a.refunds, no)
			}
		}
		return nil
	}
	if change.AmountMinor > 0 {
		o.Total = change.AmountMinor
	}
	return nil
}

// SetStatementReady implements sandbox.StatementControl.
func (s *Simulator) SetStatementReady(channelID string, ready bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byChannel[channelID] == nil {
		return fmt.Errorf("%w: channel %q", sandbox.ErrNotFound, channelID)
	}
	if s.bills.held == nil {
		s.bills.held = map[string]bool{}
	}
	s.bills.held[channelID] = !ready
	return nil
}
