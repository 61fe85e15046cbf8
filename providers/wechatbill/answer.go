package wechatbill

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/paygate/paygate/providers"
)

// A failed downloadbill answers XML instead of the bill, even when GZIP
// was asked:
//
//	<xml><return_code>FAIL</return_code><return_msg>No Bill Exist</return_msg><error_code>20002</error_code></xml>
//
// (wechatpay.md §10.1).

// maxAnswer bounds an XML error answer.
const maxAnswer = 8 << 10

// IsErrorAnswer reports whether a download starts like an XML answer
// (its first non-blank byte is '<') rather than a bill.
func IsErrorAnswer(br *bufio.Reader) bool {
	head, _ := br.Peek(64)
	head = bytes.TrimLeft(head, " \t\r\n\uFEFF")
	return len(head) > 0 && head[0] == '<'
}

// ReadErrorAnswer reads an XML error answer and returns its meaning as an
// error: ErrNoStatement, ErrStatementNotReady, a retryable provider error
// for SYSTEMERROR, a rejection otherwise.
func ReadErrorAnswer(r io.Reader) error {
	body, err := io.ReadAll(io.LimitReader(r, maxAnswer+1))
	if err != nil {
		return providers.Unavailable(err)
	}
	if len(body) > maxAnswer || bytes.Contains(bytes.ReplaceAll(body, []byte("<![CDATA["), nil), []byte("<!")) {
		return providers.Errorf(providers.ErrCodeBadResponse, "", "downloadbill: unreadable XML answer")
	}
	var doc struct {
		ReturnCode string `xml:"return_code"`
		ReturnMsg  string `xml:"return_msg"`
		ErrorCode  string `xml:"error_code"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		return providers.Errorf(providers.ErrCodeBadResponse, "", "downloadbill: unreadable XML answer: %v", err)
	}
	return Failure(doc.ReturnCode, doc.ReturnMsg, doc.ErrorCode)
}

// Failure maps a bill download's return_code/return_msg/error_code (v2 XML,
// cloud pay's respdata object) to an error.
func Failure(returnCode, returnMsg, errorCode string) error {
	msg := strings.TrimSpace(returnMsg)
	word := strings.ToLower(msg)
	switch {
	case errorCode == "20002" || strings.Contains(word, "no bill exist"):
		// The doc spells it "NO Bill Exist", answers say "No Bill Exist".
		return fmt.Errorf("%w: %s", providers.ErrNoStatement, msg)
	case strings.Contains(word, "bill creating"):
		return fmt.Errorf("%w: %s", providers.ErrStatementNotReady, msg)
	case strings.Contains(word, "systemerror"), strings.Contains(word, "system error"):
		return providers.Errorf(providers.ErrCodeUnavailable, "SYSTEMERROR", "downloadbill: %s", msg)
	case returnCode == "SUCCESS":
		return providers.Errorf(providers.ErrCodeBadResponse, "", "downloadbill: an XML answer with return_code SUCCESS instead of a bill")
	}
	return providers.Errorf(providers.ErrCodeRejected, errorCode, "downloadbill: %s", msg)
}
