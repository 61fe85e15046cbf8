// Package httpx gives adapters one outbound HTTP client per channel: resty
// with the channel's timeout, and a gobreaker circuit breaker that opens
// after consecutive transport failures or 5xx answers.
package httpx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/sony/gobreaker/v2"

	"github.com/paygate/paygate/providers"
)

// DefaultTimeout applies when a channel sets none.
const DefaultTimeout = 10 * time.Second

// MaxResponseBytes caps every provider answer an adapter reads: providers
// answer a few KB, so a larger body is a broken or hostile answer and is
// never read into memory whole. An adapter may lower it (WithResponseLimit).
const MaxResponseBytes = 1 << 20

// WithResponseLimit sets the channel's answer size cap to n bytes.
func WithResponseLimit(n int) Option {
	return func(c *resty.Client) error {
		c.SetResponseBodyLimit(n)
		return nil
	}
}

// Client is a channel's HTTP client guarded by its circuit breaker.
type Client struct {
	rest    *resty.Client
	breaker *gobreaker.CircuitBreaker[*resty.Response]
}

// Option adjusts a Client.
type Option func(*resty.Client) error

// WithClientCert adds a PEM client certificate for mutual TLS (WeChat v2
// refunds). Both files must be given.
func WithClientCert(certFile, keyFile string) Option {
	return func(c *resty.Client) error {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("load client certificate: %w", err)
		}
		// The transport may be shared (Deps.HTTPClient): give this
		// channel its own copy so its certificate stays its own.
		t, err := c.Transport()
		if err != nil {
			return fmt.Errorf("client certificate: %w", err)
		}
		c.SetTransport(t.Clone())
		c.SetCertificates(cert)
		return nil
	}
}

// New builds the client for a channel. BaseURL is the channel's resolved root.
func New(ch providers.Channel, deps providers.Deps, opts ...Option) (*Client, error) {
	var rc *resty.Client
	if deps.HTTPClient != nil {
		// Copy the shared client: resty sets the timeout (and options may
		// set TLS) on the *http.Client it is given.
		hc := *deps.HTTPClient
		rc = resty.NewWithClient(&hc)
	} else {
		rc = resty.New()
	}
	timeout := ch.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	rc.SetTimeout(timeout).
		SetBaseURL(ch.BaseURL).
		SetHeader("User-Agent", "paygate/1 (+https://github.com/paygate/paygate)").
		SetRedirectPolicy(resty.NoRedirectPolicy()).
		SetResponseBodyLimit(MaxResponseBytes)
	for _, opt := range opts {
		if err := opt(rc); err != nil {
			return nil, err
		}
	}
	br := gobreaker.NewCircuitBreaker[*resty.Response](gobreaker.Settings{
		Name:        ch.ID,
		MaxRequests: 1,
		Interval:    time.Minute,
		Timeout:     30 * time.Second,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 5 },
	})
	return &Client{rest: rc, breaker: br}, nil
}

// R starts a request bound to ctx.
func (c *Client) R(ctx context.Context) *resty.Request {
	return c.rest.R().SetContext(ctx)
}

// Do runs send through the breaker. Transport errors and 5xx answers count
// as failures; every error it returns is a *providers.Error with code
// PROVIDER_UNAVAILABLE, except an answer over the size cap, which is
// PROVIDER_BAD_RESPONSE (both are unknown outcomes). A 5xx answer is
// returned with its response so the adapter can still read the provider's
// error body.
func (c *Client) Do(send func() (*resty.Response, error)) (*resty.Response, error) {
	var serverErr *resty.Response
	resp, err := c.breaker.Execute(func() (*resty.Response, error) {
		resp, err := send()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode() >= 500 {
			serverErr = resp
			return nil, fmt.Errorf("HTTP %d", resp.StatusCode())
		}
		return resp, nil
	})
	switch {
	case err == nil:
		return resp, nil
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return nil, &providers.Error{Code: providers.ErrCodeUnavailable, Err: providers.ErrBreakerOpen}
	case errors.Is(err, resty.ErrResponseBodyTooLarge):
		return nil, &providers.Error{Code: providers.ErrCodeBadResponse, Message: "answer larger than the size cap", Err: resty.ErrResponseBodyTooLarge}
	case serverErr != nil:
		return serverErr, &providers.Error{Code: providers.ErrCodeUnavailable, Message: fmt.Sprintf("HTTP %d", serverErr.StatusCode())}
	default:
		return nil, providers.Unavailable(err)
	}
}
