package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"healthcode/models"
)

// healthz answers while the process is alive.
func (api *API) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz answers 200 when the database is reachable and its schema current,
// else 503, so a load balancer stops sending traffic.
func (api *API) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	version, err := api.store.Ready(ctx)
	if err != nil {
		respondError(c, api.log, models.Errorf(models.KindUnavailable, "not_ready", "服务暂未就绪，请稍后再试").Wrap(err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "schema_version": version})
}
