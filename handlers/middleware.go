package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"
)

// ctxRequestID is the gin context key of the request id.
const ctxRequestID = "request_id"

// headerRequestID carries the request id in and out.
const headerRequestID = "X-Request-Id"

// requestID takes a well-formed X-Request-Id from the caller (a gateway's)
// or makes one, and echoes it in the response.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(headerRequestID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		c.Set(ctxRequestID, id)
		c.Header(headerRequestID, id)
		c.Next()
	}
}

// newRequestID makes a random request id.
func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func validRequestID(id string) bool {
	if len(id) < 8 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
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
		api.log.LogAttrs(c.Request.Context(), level, "request",
			slog.String("request_id", c.GetString(ctxRequestID)),
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.String("path", c.Request.URL.Path),
			slog.Int("status", status),
			slog.Int("bytes", c.Writer.Size()),
			slog.Duration("took", took),
			slog.String("client", c.ClientIP()),
		)
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
