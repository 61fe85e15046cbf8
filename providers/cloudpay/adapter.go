// Package cloudpay is the WeChat Cloud Run "cloud pay" adapter (kind
// wechat_cloudpay): WeChat Pay v2 semantics spoken as JSON through the
// Cloud Run open-interface service (http://api.weixin.qq.com/_/pay/...),
// where WeChat's cloud is the service provider and the merchant is the
// sub-merchant (sub_mch_id). Cloud Run authenticates the calling
// container, so requests carry no signature, and callbacks carry none
// either: a callback is only a hint and the gateway settles the order by
// querying (Capabilities.Notify is false).
package cloudpay

import (
	"fmt"
	"net/url"
	"time"

	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/httpx"
	"github.com/paygate/paygate/providers/wechatbill"
)

// DefaultBaseURL is the open-interface root inside Cloud Run.
const DefaultBaseURL = "http://api.weixin.qq.com"

// Interface paths below the base URL (spec §1.4). The pay index page
// writes unifiedOrder in camelCase and the others in lower case; one copy
// of the unified order page writes "unifiedorder" (UNCONFIRMED which
// casing the server requires, if it cares).
const (
	PathUnifiedOrder = "/_/pay/unifiedOrder"
	PathQueryOrder   = "/_/pay/queryorder"
	PathCloseOrder   = "/_/pay/closeorder"
	PathRefund       = "/_/pay/refund"
	PathQueryRefund  = "/_/pay/queryrefund"
)

// DefaultContainerService is the Cloud Run service the callbacks are sent
// to when params.container_service and params.function_name are unset.
const DefaultContainerService = "paygate"

// Callback types of the open interface: 1 cloud function, 2 Cloud Run.
const (
	CallbackFunction  = 1
	CallbackContainer = 2
)

// Currency: cloud pay orders are CNY (fee_type defaults to CNY).
const Currency = "CNY"

var beijing = providers.ChinaTime

// Kind is the channel's provider word.
const Kind = "wechat_cloudpay"

var spec = providers.Spec[Params, *Adapter]{
	Kind: Kind, DefaultCurrency: Currency, Currencies: []string{Currency}, BaseURL: DefaultBaseURL, Build: build,
}

func init() { providers.Register(spec) }

// Params are a wechat_cloudpay channel's params. Callbacks go to a cloud
// function (function_name) or, by default, to a Cloud Run service
// (container_service, default "paygate"; container_path, default the
// path of the channel's notify URL).
type Params struct {
	SubMchID         string `param:"sub_mch_id,required"`
	SubAppID         string `param:"sub_appid"`
	EnvID            string `param:"env_id,required"`
	ContainerService string `param:"container_service"`
	ContainerPath    string `param:"container_path"`
	FunctionName     string `param:"function_name"`
}

// Adapter is one wechat_cloudpay channel.
type Adapter struct {
	wechatbill.Format // statements: the trade bill
	ch                providers.Channel
	subMchID          string
	subAppID          string
	envID             string
	callback          callbackFields
	http              *httpx.Client
	now               func() time.Time
}

// callbackFields say where WeChat's cloud sends payment/refund callbacks.
type callbackFields struct {
	EnvID        string     `json:"env_id"`
	CallbackType int        `json:"callback_type"`
	FunctionName string     `json:"function_name,omitempty"`
	Container    *container `json:"container,omitempty"`
}

type container struct {
	Service string `json:"service"`
	Path    string `json:"path"`
}

// New is the wechat_cloudpay Factory.
func New(ch providers.Channel, deps providers.Deps) (providers.Provider, error) {
	return spec.New(ch, deps)
}

func build(ch providers.Channel, p Params, deps providers.Deps) (*Adapter, error) {
	cp := &Adapter{ch: ch, subMchID: p.SubMchID, subAppID: p.SubAppID, envID: p.EnvID, now: deps.NowFunc()}
	fn, svc := p.FunctionName, p.ContainerService
	switch {
	case fn != "" && svc != "":
		return nil, fmt.Errorf("params.function_name and params.container_service exclude each other (cloud function or Cloud Run callback)")
	case fn != "":
		cp.callback = callbackFields{EnvID: cp.envID, CallbackType: CallbackFunction, FunctionName: fn}
	default:
		if svc == "" {
			svc = DefaultContainerService
		}
		path := p.ContainerPath
		if path == "" && ch.NotifyURL != "" {
			u, err := url.Parse(ch.NotifyURL)
			if err != nil {
				return nil, fmt.Errorf("channel notify URL %q: %v", ch.NotifyURL, err)
			}
			path = u.Path
		}
		if path == "" {
			path = "/"
		}
		cp.callback = callbackFields{EnvID: cp.envID, CallbackType: CallbackContainer, Container: &container{Service: svc, Path: path}}
	}
	var err error
	if cp.http, err = httpx.New(ch, deps); err != nil {
		return nil, err
	}
	return cp, nil
}

// Kind implements providers.Provider.
func (p *Adapter) Kind() string { return Kind }

// Capabilities: callbacks are unsigned, so the poller owns the orders and
// a callback only triggers a query.
func (p *Adapter) Capabilities() providers.Capabilities {
	return providers.Capabilities{
		Notify: false, RefundNotify: false, Query: true, Close: true, Refund: true, RefundQuery: true,
		Currencies: []string{Currency}, PayMethods: []string{providers.PayMethodWeChat}, RequiresOpenID: true,
	}
}
