// Package handlers is the HTTP surface of the service: the Gin routes, request
// binding, the JSON error envelope, middleware (request ids, access logs,
// recovery, body limits) and, later, the H5 pages.
package handlers

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"healthcode/config"
	"healthcode/models"
)

// Deps is what the handlers need, built once by the composition root.
type Deps struct {
	Config config.Config
	Store  *models.Store
	Clock  models.Clock
	Logger *slog.Logger
}

// API holds the dependencies every handler method uses.
type API struct {
	cfg   config.Config
	store *models.Store
	clock models.Clock
	log   *slog.Logger
}

// New returns the service's HTTP handler with every route registered.
func New(d Deps) (http.Handler, error) {
	gin.SetMode(gin.ReleaseMode)
	api := &API{cfg: d.Config, store: d.Store, clock: d.Clock, log: d.Logger}

	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	if err := r.SetTrustedProxies(d.Config.HTTP.TrustedProxies); err != nil {
		return nil, err
	}
	r.Use(requestID(), api.accessLog(), api.recovery(), api.bodyLimit(d.Config.HTTP.MaxBodyBytes))
	r.NoRoute(func(c *gin.Context) {
		respondError(c, api.log, models.Errorf(models.KindNotFound, "not_found", "请求的地址不存在"))
	})
	r.NoMethod(func(c *gin.Context) {
		respondError(c, api.log, models.Errorf(models.KindMethod, "method_not_allowed", "不支持该请求方法"))
	})
	api.routes(r)
	return r, nil
}

// routes lists every route of the service in one place.
func (api *API) routes(r *gin.Engine) {
	r.GET("/healthz", api.healthz)
	r.GET("/readyz", api.readyz)
}
