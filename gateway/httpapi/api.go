// Package httpapi is the gateway's HTTP API v1 for mini-program backends
// and finance staff (gin): orders, refunds, events, with bearer API keys,
// the documented JSON error shape and body limits.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/paygate/paygate/gateway/apierr"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/gateway/orders"
	"github.com/paygate/paygate/gateway/recon"
	"github.com/paygate/paygate/providers"
)

// MaxBody caps API request bodies.
const MaxBody = 64 << 10

// API serves /v1.
type API struct {
	svc  *orders.Service
	keys Keys
	log  *slog.Logger
	// Kick wakes the webhook dispatcher (after a redelivery request).
	Kick func()
	// ExportTimeLimit bounds a whole CSV export (DefaultExportTimeLimit
	// when zero).
	ExportTimeLimit time.Duration
	// Recon runs reconciliations (nil: the routes answer 503).
	Recon *recon.Engine
}

// New builds the API.
func New(svc *orders.Service, keys Keys, log *slog.Logger) *API {
	return &API{svc: svc, keys: keys, log: log}
}

// Register mounts the routes on r.
func (a *API) Register(r gin.IRouter) {
	v1 := r.Group("/v1", a.authenticate)
	v1.POST("/orders", require(config.ScopeOrdersWrite), a.createOrder)
	v1.GET("/orders", require(config.ScopeOrdersRead), a.listOrders)
	v1.GET("/orders/:no", require(config.ScopeOrdersRead), a.getOrder)
	v1.POST("/orders/:no/close", require(config.ScopeOrdersWrite), a.closeOrder)
	v1.POST("/orders/:no/refunds", require(config.ScopeRefundsWrite), a.createRefund)
	v1.GET("/orders/:no/refunds", require(config.ScopeOrdersRead), a.listRefunds)
	v1.GET("/orders/:no/refunds/:rno", require(config.ScopeOrdersRead), a.getRefund)
	v1.GET("/events", require(config.ScopeOrdersRead), a.listEvents)
	v1.GET("/events/:id", require(config.ScopeOrdersRead), a.getEvent)
	v1.GET("/reports/summary", require(config.ScopeOrdersRead), a.summary)
	v1.POST("/events/:id/redeliver", require(config.ScopeOrdersWrite), a.redeliverEvent)
	a.registerRecon(v1)
}

func (a *API) createOrder(c *gin.Context) {
	var in orders.CreateInput
	if !decode(c, &in) {
		return
	}
	o, created, err := a.svc.Create(c.Request.Context(), keyOf(c).MerchantID, in)
	if err != nil {
		a.fail(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, orders.ViewOrder(o))
}

func (a *API) getOrder(c *gin.Context) {
	ctx := c.Request.Context()
	o, err := a.svc.Get(ctx, keyOf(c).MerchantID, c.Param("no"))
	if err != nil {
		a.fail(c, err)
		return
	}
	if refresh, ok := a.refreshParam(c); !ok {
		return
	} else if refresh {
		if o, err = a.svc.Refresh(ctx, o); err != nil {
			a.fail(c, err)
			return
		}
	}
	c.JSON(http.StatusOK, orders.ViewOrder(o))
}

func (a *API) closeOrder(c *gin.Context) {
	if c.Request.ContentLength > 0 {
		var empty struct{}
		if !decode(c, &empty) {
			return
		}
	}
	o, err := a.svc.Close(c.Request.Context(), keyOf(c).MerchantID, c.Param("no"))
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, orders.ViewOrder(o))
}

func (a *API) createRefund(c *gin.Context) {
	var in orders.RefundInput
	if !decode(c, &in) {
		return
	}
	r, o, created, err := a.svc.CreateRefund(c.Request.Context(), keyOf(c).MerchantID, c.Param("no"), in)
	if err != nil {
		a.fail(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, orders.ViewRefund(r, o.OutTradeNo))
}

func (a *API) getRefund(c *gin.Context) {
	ctx := c.Request.Context()
	r, o, err := a.svc.GetRefund(ctx, keyOf(c).MerchantID, c.Param("no"), c.Param("rno"))
	if err != nil {
		a.fail(c, err)
		return
	}
	if refresh, ok := a.refreshParam(c); !ok {
		return
	} else if refresh {
		if r, err = a.svc.RefreshRefund(ctx, r); err != nil {
			a.fail(c, err)
			return
		}
	}
	c.JSON(http.StatusOK, orders.ViewRefund(r, o.OutTradeNo))
}

func (a *API) listRefunds(c *gin.Context) {
	ctx := c.Request.Context()
	o, err := a.svc.Get(ctx, keyOf(c).MerchantID, c.Param("no"))
	if err != nil {
		a.fail(c, err)
		return
	}
	rs, err := a.svc.Refunds(ctx, o)
	if err != nil {
		a.fail(c, err)
		return
	}
	data := make([]orders.RefundView, 0, len(rs))
	for i := range rs {
		data = append(data, orders.ViewRefund(&rs[i], o.OutTradeNo))
	}
	c.JSON(http.StatusOK, gin.H{"data": data, "next_cursor": nil})
}

// refreshParam reads ?refresh=true|false; ok is false after a 400.
func (a *API) refreshParam(c *gin.Context) (refresh, ok bool) {
	switch c.Query("refresh") {
	case "", "false":
		return false, true
	case "true":
		return true, true
	}
	a.fail(c, apierr.Invalid("refresh", "must be true or false"))
	return false, false
}

// decode reads a JSON body strictly: size-capped, unknown fields and
// trailing data refused, type errors naming the field.
func decode(c *gin.Context, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		abort(c, apierr.New(http.StatusRequestEntityTooLarge, apierr.PayloadTooLarge, "", "the body is larger than %d bytes", MaxBody))
		return false
	}
	if err != nil {
		abort(c, apierr.Invalid("", "cannot read the body: %v", err))
		return false
	}
	if ct := c.ContentType(); ct != "" && ct != "application/json" {
		abort(c, apierr.Invalid("", "Content-Type must be application/json"))
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		abort(c, jsonError(err))
		return false
	}
	if dec.More() {
		abort(c, apierr.Invalid("", "the body must be one JSON object"))
		return false
	}
	return true
}

func jsonError(err error) *apierr.Error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		return apierr.Invalid(field, "must be a JSON %s", jsonKind(typeErr.Type.Kind().String()))
	case errors.As(err, &syntaxErr):
		return apierr.Invalid("", "invalid JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case errors.Is(err, io.EOF):
		return apierr.Invalid("", "the body is empty; send a JSON object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apierr.Invalid(field, "unknown field")
	default:
		return apierr.Invalid("", "invalid JSON: %v", err)
	}
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "number"
	case "struct", "map":
		return "object"
	case "slice":
		return "array"
	}
	return k
}

func abort(c *gin.Context, e *apierr.Error) {
	c.AbortWithStatusJSON(e.Status, e.Body())
}

// statusOf is the HTTP status of each refusal the use cases answer.
var statusOf = map[string]int{
	orders.CodeInvalid:             http.StatusBadRequest,
	orders.CodeNotFound:            http.StatusNotFound,
	orders.CodeConflict:            http.StatusConflict,
	orders.CodeInProgress:          http.StatusConflict,
	orders.CodeTooLarge:            http.StatusRequestEntityTooLarge,
	orders.CodeUnsupported:         http.StatusUnprocessableEntity,
	orders.CodeCurrencyUnsupported: http.StatusUnprocessableEntity,
	orders.CodeOrderState:          http.StatusUnprocessableEntity,
	orders.CodeRefundExceeds:       http.StatusUnprocessableEntity,
	orders.CodeProviderRejected:    http.StatusUnprocessableEntity,
	orders.CodeProviderUnavailable: http.StatusBadGateway,
}

// fromDomain is a use case's refusal in the API's error shape.
func fromDomain(e *orders.Error) *apierr.Error {
	status, ok := statusOf[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	return &apierr.Error{Status: status, Code: e.Code, Message: e.Message, Field: e.Field, ProviderCode: e.ProviderCode, Err: e.Err}
}

// fail answers err in the error shape; errors that are neither API errors
// nor use-case refusals are provider or internal failures, logged and
// never echoed.
func (a *API) fail(c *gin.Context, err error) {
	var ae *apierr.Error
	if errors.As(err, &ae) {
		abort(c, ae)
		return
	}
	var oe *orders.Error
	if errors.As(err, &oe) {
		abort(c, fromDomain(oe))
		return
	}
	var pe *providers.Error
	if errors.As(err, &pe) {
		a.log.Warn("provider call failed", "path", c.FullPath(), "err", err)
		e := apierr.New(http.StatusBadGateway, apierr.ProviderUnavailable, "", "the provider could not answer: %s", pe.Code)
		if !orders.OutcomeUnknown(pe) {
			e = apierr.Unprocessable(apierr.ProviderRejected, "", "the provider refused: %s", pe.Code)
		}
		e.ProviderCode = pe.ProviderCode
		abort(c, e)
		return
	}
	a.log.Error("request failed", "path", c.FullPath(), "err", err)
	abort(c, apierr.New(http.StatusInternalServerError, apierr.Internal, "", "internal error; see the gateway log (%s)", fmt.Sprint(c.Writer.Header().Get("X-Request-Id"))))
}
