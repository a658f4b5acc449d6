package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"

	"healthcode/models"
	"healthcode/models/fault"
)

// ctxRequestID is the gin context key of the server's own request id.
const ctxRequestID = "request_id"

// ctxClientRequestID is the gin context key of the request id the client
// sent, when it was well formed.
const ctxClientRequestID = "client_request_id"

// headerRequestID carries the request id in and out.
const headerRequestID = "X-Request-Id"

// requestID gives every request an id of the server's own, used in logs,
// audit entries and answers (including the X-Request-Id response header).
// A well-formed X-Request-Id from the caller (a gateway's) is kept beside
// it: logged, and recorded in audit entries through the request's context.
// The caller's id is never used as ours, so a client cannot make its
// requests share an id with another's in the audit log.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := newRequestID()
		c.Set(ctxRequestID, id)
		c.Header(headerRequestID, id)
		if client := c.GetHeader(headerRequestID); validRequestID(client) {
			c.Set(ctxClientRequestID, client)
			c.Request = c.Request.WithContext(models.WithClientRequestID(c.Request.Context(), client))
		}
		c.Next()
	}
}

// newRequestID makes a random request id.
func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// validRequestID accepts 8 to 64 characters of [A-Za-z0-9._-].
func validRequestID(id string) bool {
	if len(id) < 8 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.') {
			return false
		}
	}
	return true
}

// accessLog writes one line per request. It logs the route pattern and the
// path without its query string, which may carry one-time tickets.
func (api *API) accessLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = routeUnmatched
		}
		status := c.Writer.Status()
		took := time.Since(start)
		api.metrics.observe(c.Request.Method, route, status, took)
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelWarn
		}
		// A fixed array, so the line costs no allocation of its own; the
		// client's request id, last, only when it sent one.
		client := c.GetString(ctxClientRequestID)
		attrs := [...]slog.Attr{
			slog.String("request_id", c.GetString(ctxRequestID)),
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.String("path", c.Request.URL.Path),
			slog.Int("status", status),
			slog.Int("bytes", c.Writer.Size()),
			slog.Duration("took", took),
			slog.String("client", c.ClientIP()),
			slog.String("client_request_id", client),
		}
		n := len(attrs)
		if client == "" {
			n--
		}
		// The record is made here rather than by LogAttrs, which asks the
		// runtime for its caller on every line (1.4 % of a code
		// display's CPU) for a source field this log does not carry.
		ctx := c.Request.Context()
		if h := api.log.Handler(); h.Enabled(ctx, level) {
			r := slog.NewRecord(time.Now(), level, "request", 0)
			r.AddAttrs(attrs[:n]...)
			h.Handle(ctx, r)
		}
	}
}

// recovery turns a panic into a logged error and a JSON 500.
func (api *API) recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				api.log.ErrorContext(c.Request.Context(), "panic", "request_id", c.GetString(ctxRequestID),
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				respondError(c, api.log, errInternal)
			}
		}()
		c.Next()
	}
}

// bodyLimit refuses a declared body over the limit at once and caps the
// rest, so a handler reading too much gets *http.MaxBytesError. Uploads of
// lists have a larger limit than the rest.
func (api *API) bodyLimit() gin.HandlerFunc {
	return func(c *gin.Context) {
		limit := api.cfg.HTTP.MaxBodyBytes
		if largeBodyRoutes[c.FullPath()] {
			limit = api.cfg.ImportMaxBytes
		}
		if c.Request.ContentLength > limit {
			c.Header("Connection", "close")
			respondError(c, api.log, errTooLarge)
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		c.Next()
	}
}

// mediaJSON is the media type of the API's request bodies.
const mediaJSON = "application/json"

// bodyTypes are the routes under the JSON groups whose bodies are not JSON,
// with the media type each takes.
var bodyTypes = map[string]string{
	"/api/v1/admin" + routeStatusImports:      "multipart/form-data",
	"/api/v1/admin" + routeHouseholds:         "multipart/form-data",
	"/api/v1/admin" + routeBirthRecords:       "multipart/form-data",
	"/api/v1/admin" + routeNucleicResults:     "multipart/form-data",
	"/api/v1/admin" + routeDisabilityRegister: "multipart/form-data",
	"/api/v1" + routeAlipayNotify:             "application/x-www-form-urlencoded",
}

var errUnsupportedMedia = fault.Errorf(kindUnsupportedMedia, codeUnsupportedMediaType,
	"请求内容的类型不受支持，请以 Content-Type: application/json 发送JSON")

// requireMediaType refuses (415) a POST, PUT, PATCH or DELETE body whose
// Content-Type is not the media type its route takes: JSON (any
// parameters, such as a charset), unless bodyTypes says otherwise. A page on
// another site can make a browser post a form or text/plain without asking,
// but not JSON, so such posts never reach the API. Requests without a body
// pass.
func (api *API) requireMediaType(c *gin.Context) {
	switch c.Request.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return
	}
	if c.Request.ContentLength == 0 { // -1 is a body of unknown length (chunked)
		return
	}
	want, ok := bodyTypes[c.FullPath()]
	if !ok {
		want = mediaJSON
	}
	if got := c.GetHeader("Content-Type"); got == want {
		return
	}
	if got, _, err := mime.ParseMediaType(c.GetHeader("Content-Type")); err != nil || got != want {
		respondError(c, api.log, errUnsupportedMedia)
	}
}
