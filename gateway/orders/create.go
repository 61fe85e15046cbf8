package orders

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/store"
)

// CreateInput is the body of POST /v1/orders.
type CreateInput struct {
	Channel         string          `json:"channel"`
	OutTradeNo      string          `json:"out_trade_no"`
	Amount          string          `json:"amount"`
	Currency        string          `json:"currency"`
	Description     string          `json:"description"`
	PayMethod       string          `json:"pay_method"`
	Payer           PayerView       `json:"payer"`
	NotifyURL       string          `json:"notify_url"`
	ReturnURL       string          `json:"return_url"`
	ExpireInSeconds int64           `json:"expire_in_seconds"`
	ClientIP        string          `json:"client_ip"`
	Metadata        json.RawMessage `json:"metadata"`
}

// NumberPattern is what out_trade_no and out_refund_no must match: the
// subset every provider accepts.
var NumberPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{6,32}$`)

// Limits of the create body.
const (
	DefaultExpiry  = 2 * time.Hour // a WeChat prepay_id lives 2 hours
	MinExpiry      = time.Minute
	MaxExpiry      = 24 * time.Hour
	maxDescription = 128
	maxMetadata    = 4096
)

type createPlan struct {
	ch     *Channel
	amount providers.Money
	expiry time.Duration
	hash   string
	in     CreateInput
}

// validateCreate checks a create request completely before anything is
// written, in the order the API documents its errors: channel, numbers
// and money; description, pay method and payer; URLs; expiry and extras.
func (s *Service) validateCreate(merchantID string, in CreateInput) (*createPlan, *Error) {
	ch, amount, err := s.validateMoney(merchantID, &in)
	if err != nil {
		return nil, err
	}
	if err := validatePayer(ch, &in); err != nil {
		return nil, err
	}
	if err := s.validateURLs(merchantID, in); err != nil {
		return nil, err
	}
	expiry, err := validateExtras(in)
	if err != nil {
		return nil, err
	}
	// The idempotency hash covers the body after defaults, so leaving out a
	// field and sending its default are the same request.
	norm := in
	norm.Amount = amount.String()
	norm.ExpireInSeconds = int64(expiry.Seconds())
	norm.Metadata = compactJSON(in.Metadata)
	b, _ := json.Marshal(norm)
	sum := sha256.Sum256(b)
	return &createPlan{ch: ch, amount: amount, expiry: expiry, hash: hex.EncodeToString(sum[:]), in: norm}, nil
}

// validateMoney checks the channel (the merchant's), the order number and
// the amount in a currency the channel takes (its own by default).
func (s *Service) validateMoney(merchantID string, in *CreateInput) (*Channel, providers.Money, *Error) {
	var none providers.Money
	if in.Channel == "" {
		return nil, none, Invalid("channel", "is required")
	}
	ch, ok := s.channels[in.Channel]
	if !ok || ch.MerchantID != merchantID {
		return nil, none, Invalid("channel", "unknown channel %q", in.Channel)
	}
	if !NumberPattern.MatchString(in.OutTradeNo) {
		return nil, none, Invalid("out_trade_no", "must match %s", NumberPattern)
	}
	if in.Currency == "" {
		in.Currency = ch.Currency
	}
	if !providers.KnownCurrency(in.Currency) {
		return nil, none, Invalid("currency", "%q is not an ISO-4217 currency code", in.Currency)
	}
	if in.Amount == "" {
		return nil, none, Invalid("amount", "is required, as a decimal string such as \"12.34\"")
	}
	amount, err := providers.ParseAmount(in.Amount, in.Currency)
	if err != nil {
		return nil, none, Invalid("amount", "%v", err)
	}
	if !slices.Contains(ch.Caps.Currencies, in.Currency) {
		return nil, none, Refused(CodeCurrencyUnsupported, "currency", "channel %s accepts %v, not %s", ch.ID, ch.Caps.Currencies, in.Currency)
	}
	return ch, amount, nil
}

// validatePayer checks the description, the pay method (wechat by
// default) and what the channel needs of the payer.
func validatePayer(ch *Channel, in *CreateInput) *Error {
	if in.Description == "" {
		return Invalid("description", "is required")
	}
	if utf8.RuneCountInString(in.Description) > maxDescription || !utf8.ValidString(in.Description) {
		return Invalid("description", "must be valid UTF-8 of at most %d characters", maxDescription)
	}
	if hasControl(in.Description) {
		return Invalid("description", "must not contain control characters")
	}
	if in.PayMethod == "" {
		in.PayMethod = providers.PayMethodWeChat
	}
	if !slices.Contains(ch.Caps.PayMethods, in.PayMethod) {
		return Refused(CodeUnsupported, "pay_method", "channel %s offers %v, not %q", ch.ID, ch.Caps.PayMethods, in.PayMethod)
	}
	if in.PayMethod == providers.PayMethodWeChat && ch.Caps.RequiresOpenID && in.Payer.OpenID == "" {
		return Invalid("payer.openid", "is required for WeChat mini-program payments")
	}
	if in.PayMethod == providers.PayMethodWeChat && ch.Caps.RequiresAppID && in.Payer.AppID == "" {
		return Invalid("payer.appid", "is required on channel %s: the mini-program's appid", ch.ID)
	}
	if len(in.Payer.OpenID) > 128 || len(in.Payer.AppID) > 64 {
		return Invalid("payer", "openid or appid too long")
	}
	for field, v := range map[string]string{"payer.openid": in.Payer.OpenID, "payer.appid": in.Payer.AppID} {
		if !utf8.ValidString(v) || hasControl(v) {
			return Invalid(field, "must be valid UTF-8 without control characters")
		}
	}
	return nil
}

// validateURLs checks notify_url (also against the merchant's webhook
// policy) and return_url.
func (s *Service) validateURLs(merchantID string, in CreateInput) *Error {
	for _, u := range []struct{ field, raw string }{{"notify_url", in.NotifyURL}, {"return_url", in.ReturnURL}} {
		field, raw := u.field, u.raw
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(raw) > 512 {
			return Invalid(field, "must be an http(s) URL of at most 512 characters")
		}
		if field == "notify_url" && s.CheckNotifyURL != nil {
			if err := s.CheckNotifyURL(merchantID, raw); err != nil {
				return Invalid(field, "%v", err)
			}
		}
	}
	return nil
}

// validateExtras checks the expiry (DefaultExpiry when none), the client
// IP and the metadata, and returns the expiry.
func validateExtras(in CreateInput) (time.Duration, *Error) {
	expiry := DefaultExpiry
	if in.ExpireInSeconds != 0 {
		expiry = time.Duration(in.ExpireInSeconds) * time.Second
		if in.ExpireInSeconds < 0 || expiry < MinExpiry || expiry > MaxExpiry {
			return 0, Invalid("expire_in_seconds", "must be between %d and %d", int(MinExpiry.Seconds()), int(MaxExpiry.Seconds()))
		}
	}
	if in.ClientIP != "" && net.ParseIP(in.ClientIP) == nil {
		return 0, Invalid("client_ip", "must be an IP address")
	}
	if len(in.Metadata) > 0 {
		var obj map[string]any
		if len(in.Metadata) > maxMetadata || json.Unmarshal(in.Metadata, &obj) != nil || obj == nil {
			return 0, Invalid("metadata", "must be a JSON object of at most %d bytes", maxMetadata)
		}
	}
	return expiry, nil
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	b, _ := json.Marshal(v) // maps marshal with sorted keys
	return b
}

// Create places a unified order. It answers created=false with the stored
// order when the same out_trade_no comes again with the same body, and a
// 409 when the body differs. The order is stored before the provider is
// called, so a fast notification always finds it.
func (s *Service) Create(ctx context.Context, merchantID string, in CreateInput) (*store.Order, bool, error) {
	plan, aerr := s.validateCreate(merchantID, in)
	if aerr != nil {
		return nil, false, aerr
	}
	// Insert first: a repeat (rare) meets the unique number and is read
	// then; a new order (the rule) is not read for nothing.
	now := s.now().UTC()
	o := &store.Order{
		ID: store.NewID("ord"), MerchantID: merchantID, ChannelID: plan.ch.ID, Provider: plan.ch.Kind,
		OutTradeNo: in.OutTradeNo, AmountMinor: plan.amount.Minor, Currency: plan.amount.Currency,
		Status: string(providers.OrderPaying), Description: in.Description, PayMethod: plan.in.PayMethod,
		PayerOpenID: in.Payer.OpenID, PayerAppID: in.Payer.AppID, ClientIP: in.ClientIP,
		NotifyURL: in.NotifyURL, ReturnURL: in.ReturnURL, Metadata: string(plan.in.Metadata),
		RequestHash: plan.hash, ExpiresAt: now.Add(plan.expiry), Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	// The first poll is due after its wait on the database's clock. The
	// order is leased to this request's provider call, so neither the
	// poller nor a concurrent identical request calls the provider about
	// it meanwhile.
	firstPoll := store.DueIn(s.NextOrderPoll(plan.ch, 0, now, o.ExpiresAt).Sub(now))
	o.NextPollAt = &firstPoll
	token := store.NewID("lease")
	lease := store.DueIn(callLease(plan.ch))
	o.LeaseUntil, o.LeaseToken = &lease, token
	if err := s.st.InsertOrder(ctx, o); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			// The number is taken: a repeat of this request (replayed) or
			// another one (refused), earlier or concurrent.
			existing, gerr := s.st.OrderByOutTradeNo(ctx, merchantID, in.OutTradeNo)
			if gerr != nil {
				return nil, false, gerr
			}
			o, err := s.replay(ctx, existing, plan)
			return o, false, err
		}
		return nil, false, err
	}
	o, err := s.submit(ctx, o, plan.ch, token)
	return o, err == nil, err
}

// callLease is how long an order stays leased to one provider call about
// it: the channel's timeout and a quarter more.
func callLease(ch *Channel) time.Duration {
	t := ch.Timeout
	if t <= 0 {
		t = 10 * time.Second
	}
	return t + t/4
}

// replay answers a repeated create.
func (s *Service) replay(ctx context.Context, o *store.Order, plan *createPlan) (*store.Order, error) {
	if o.RequestHash != plan.hash {
		return nil, Refused(CodeConflict, "out_trade_no",
			"out_trade_no %s was already used with a different request", o.OutTradeNo)
	}
	if o.Status == string(providers.OrderPaying) && o.PayParams == "" && o.PayURL == "" {
		// The provider call of the first attempt did not complete: try again
		// with the same number (providers accept a repeat with the same content).
		return s.resubmit(ctx, o, plan.ch)
	}
	return o, nil
}

// resubmit repeats the provider call of a create that did not complete,
// unless a call about the order is under way right now (a concurrent
// identical create, or the poller asking): then it waits for that call's
// outcome instead of calling the provider a second time, and answers
// IN_PROGRESS if it does not come within the call's lease.
func (s *Service) resubmit(ctx context.Context, o *store.Order, ch *Channel) (*store.Order, error) {
	deadline := time.Now().Add(callLease(ch))
	for {
		token := store.NewID("lease")
		ok, err := s.st.TakeLease(ctx, "orders", o.ID, token, callLease(ch))
		if err != nil {
			return nil, err
		}
		if ok {
			cur, err := s.st.OrderByID(ctx, o.ID)
			if err != nil || cur.Status != string(providers.OrderPaying) || cur.PayParams != "" || cur.PayURL != "" {
				// Settled between our read and the lease.
				s.releaseLease(ctx, o.ID, token)
				return cur, err
			}
			return s.submit(ctx, cur, ch, token)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		cur, err := s.st.OrderByID(ctx, o.ID)
		if err != nil {
			return nil, err
		}
		if cur.Status != string(providers.OrderPaying) || cur.PayParams != "" || cur.PayURL != "" {
			return cur, nil
		}
		if time.Now().After(deadline) {
			return nil, Refused(CodeInProgress, "out_trade_no",
				"order %s is waiting for the provider's answer to an earlier request; repeat this one shortly", o.OutTradeNo)
		}
	}
}

func (s *Service) releaseLease(ctx context.Context, orderID, token string) {
	if err := s.st.ReleaseLease(context.WithoutCancel(ctx), "orders", orderID, token); err != nil {
		s.log.Warn("release order lease", "order", orderID, "err", err)
	}
}

// submit asks the provider to create the order and stores what the payer
// needs; it gives up the order's lease (token) when done.
func (s *Service) submit(ctx context.Context, o *store.Order, ch *Channel, token string) (*store.Order, error) {
	req := providers.CreateOrderRequest{
		OutTradeNo: o.OutTradeNo, Amount: providers.Money{Minor: o.AmountMinor, Currency: o.Currency},
		Description: o.Description, PayMethod: o.PayMethod, PayerOpenID: o.PayerOpenID, PayerAppID: o.PayerAppID,
		ClientIP: o.ClientIP, ExpiresAt: o.ExpiresAt, NotifyURL: ch.NotifyURL, ReturnURL: o.ReturnURL,
	}
	if req.ClientIP == "" {
		req.ClientIP = ch.ServerIP
	}
	res, err := ch.Provider.CreateOrder(ctx, req)
	if err != nil {
		s.releaseLease(ctx, o.ID, token)
		return s.submitFailed(ctx, o, ch, err)
	}
	// The answer is stored and the lease given up in one statement.
	fields := store.LeaseReleased(token)
	if res.ProviderTradeNo != "" {
		fields["provider_trade_no"] = res.ProviderTradeNo
	}
	if len(res.PayParams) > 0 {
		b, _ := json.Marshal(res.PayParams)
		fields["pay_params"] = string(b)
	}
	if res.PayURL != "" {
		fields["pay_url"] = res.PayURL
	}
	if err := s.updateOrderFields(ctx, o, fields); err != nil {
		return nil, err
	}
	if res.Status != "" && res.Status != providers.OrderPaying {
		return s.Refresh(ctx, o)
	}
	return o, nil
}

// OutcomeUnknown reports whether a failed provider call may still have
// taken effect: the provider was unreachable or busy, or it answered but
// the answer failed verification or could not be read. Such a call is
// repeated or asked about, never taken as a refusal.
func OutcomeUnknown(err error) bool {
	switch providers.CodeOf(err) {
	case providers.ErrCodeUnavailable, providers.ErrCodeBadResponse, providers.ErrCodeInProgress:
		return true
	}
	return false
}

func (s *Service) submitFailed(ctx context.Context, o *store.Order, ch *Channel, err error) (*store.Order, error) {
	var pe *providers.Error
	errors.As(err, &pe)
	providerCode := ""
	if pe != nil {
		providerCode = pe.ProviderCode
	}
	switch providers.CodeOf(err) {
	case providers.ErrCodeOrderPaid:
		// The provider already has this order paid: learn it by a query.
		return s.Refresh(ctx, o)
	case providers.ErrCodeUnavailable, providers.ErrCodeBadResponse, providers.ErrCodeInProgress:
		// Unreachable, or an answer that failed verification or could not
		// be read: the provider may have created the order. Keep it PAYING;
		// the same request is sent again on a repeat.
		s.log.Warn("create order: outcome unknown", "order", o.ID, "channel", ch.ID, "err", err)
		e := Refused(CodeProviderUnavailable, "",
			"the provider could not be reached or its answer could not be verified; repeat the same request to try again")
		e.ProviderCode = providerCode
		return nil, e
	default:
		s.log.Info("create order: provider refused", "order", o.ID, "channel", ch.ID, "err", err)
		if _, _, ferr := s.ApplyOrderState(ctx, o.ID, providers.OrderState{Status: providers.OrderFailed, ProviderStatus: providerCode}, Source{Name: "create"}); ferr != nil {
			return nil, ferr
		}
		msg := "the provider refused the order"
		if pe != nil && pe.Message != "" {
			msg += ": " + pe.Message
		}
		e := Refused(CodeProviderRejected, "", "%s", msg)
		e.ProviderCode = providerCode
		return nil, e
	}
}

// updateOrderFields sets fields with a compare-and-set, re-reading the
// order and retrying when something else changed it meanwhile.
func (s *Service) updateOrderFields(ctx context.Context, o *store.Order, fields map[string]any) error {
	if len(fields) == 0 {
		return nil
	}
	for i := 0; i < 5; i++ {
		f := make(map[string]any, len(fields)+2)
		for k, v := range fields {
			f[k] = v
		}
		err := s.st.UpdateOrder(ctx, o, f)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		fresh, gerr := s.st.OrderByID(ctx, o.ID)
		if gerr != nil {
			return gerr
		}
		*o = *fresh
	}
	return fmt.Errorf("order %s: too many concurrent updates", o.ID)
}

// Get returns a merchant's order by out_trade_no.
func (s *Service) Get(ctx context.Context, merchantID, outTradeNo string) (*store.Order, error) {
	o, err := s.st.OrderByOutTradeNo(ctx, merchantID, outTradeNo)
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("order %s not found", outTradeNo)
	}
	return o, err
}

// hasControl reports control characters (NUL included: PostgreSQL text
// cannot hold it, and XML-speaking providers refuse C0 characters).
func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}
