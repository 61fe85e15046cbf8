package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// CertificateRotator is a simulator whose provider rotates the
// certificates it signs with (WeChat Pay v3 platform certificates). The
// control endpoint drives it:
//
//	GET  /sandbox/certificates/{channel}                          list
//	POST /sandbox/certificates/{channel} {"action":"add"}         list a new certificate
//	POST /sandbox/certificates/{channel} {"action":"sign_with"}   move signing to it (or "serial")
//	POST /sandbox/certificates/{channel} {"action":"retire","serial":"..."}
//	POST /sandbox/certificates/{channel} {"action":"rotate"}      add and sign with it at once
type CertificateRotator interface {
	ControlCertificates(channelID string, req CertificateControl) (any, error)
}

// CertificateControl is a control request.
type CertificateControl struct {
	Action string `json:"action"`
	Serial string `json:"serial,omitempty"`
}

// ControlCertificates runs a control request on a channel's simulator.
func (s *Sandbox) ControlCertificates(channelID string, req CertificateControl) (any, error) {
	s.mu.RLock()
	ch, ok := s.channels[channelID]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: unknown channel %q", ErrNotFound, channelID)
	}
	rot, ok := s.sims[ch.Kind].(CertificateRotator)
	if !ok {
		return nil, errors.New("provider " + ch.Kind + " has no certificates to rotate")
	}
	return rot.ControlCertificates(channelID, req)
}

func (s *Sandbox) serveCertificates(w http.ResponseWriter, r *http.Request, channelID string) {
	channelID = strings.Trim(channelID, "/")
	var req CertificateControl
	switch r.Method {
	case http.MethodGet:
		req.Action = "list"
	case http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<10))
		if err == nil && len(strings.TrimSpace(string(body))) > 0 {
			err = json.Unmarshal(body, &req)
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": `body: {"action": "add|sign_with|retire|rotate", "serial": "..."}`})
			return
		}
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET or POST"})
		return
	}
	view, err := s.ControlCertificates(channelID, req)
	switch {
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, view)
	}
}
