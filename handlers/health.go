package handlers

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"healthcode/models"
	"healthcode/models/fault"
	"healthcode/models/store"
)

// readyFor is how long a readiness check's result answers /readyz: however
// often a balancer (or anyone) asks, the database sees one check a second.
const readyFor = time.Second

// errNotReady answers /readyz while the database fails its check.
var errNotReady = fault.Errorf(fault.KindUnavailable, codeNotReady, "服务暂未就绪，请稍后再试")

// errDraining answers /readyz once the node is stopping.
var errDraining = fault.Errorf(fault.KindUnavailable, codeDraining, "服务正在停止，请稍后再试")

// errCheckFailed is the result kept when a check ends without returning.
var errCheckFailed = errors.New("the readiness check did not finish")

// healthz answers while the process is alive.
func (api *API) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz answers 200 when the database is reachable and its schema current,
// else 503, so a load balancer stops sending traffic. The answer comes from
// a check at most readyFor old. A node that is stopping answers 503
// draining without a check.
func (api *API) readyz(c *gin.Context) {
	if api.draining.Load() {
		respondError(c, api.log, errDraining)
		return
	}
	version, err := api.ready.result(api.clock, func() (int, error) {
		// The prober leaving must not cut short a check others will read.
		timeout := cmp.Or(api.cfg.DB.QueryTimeout.D(), store.DefaultQueryTimeout)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), timeout)
		defer cancel()
		return api.store.Ready(ctx)
	})
	if err != nil {
		respondError(c, api.log, errNotReady.Wrap(err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "schema_version": version})
}

// readiness holds the last readiness check. One caller at a time runs a new
// check when the last is older than readyFor; the others meanwhile answer
// the last result without waiting (before the first result, they wait for
// the first check, which its deadline bounds). It is safe for concurrent
// use.
type readiness struct {
	mu       sync.Mutex
	checking chan struct{} // closed when the running check ends; nil when none runs
	at       time.Time     // when the last check finished; zero before the first
	version  int
	err      error
}

// result returns the last check's result, running check first when that
// is older than readyFor and no other caller is running one.
func (r *readiness) result(clock models.Clock, check func() (int, error)) (version int, err error) {
	r.mu.Lock()
	if running := r.checking; running != nil && r.at.IsZero() {
		r.mu.Unlock()
		<-running
		r.mu.Lock()
	}
	if r.checking != nil || (!r.at.IsZero() && clock.Now().Sub(r.at) < readyFor) {
		version, err = r.version, r.err
		r.mu.Unlock()
		return version, err
	}
	done := make(chan struct{})
	r.checking = done
	r.mu.Unlock()

	// Should check panic, the deferred store keeps this, not a zero "ready".
	err = errCheckFailed
	defer func() {
		r.mu.Lock()
		r.checking, r.at, r.version, r.err = nil, clock.Now(), version, err
		r.mu.Unlock()
		close(done)
	}()
	return check()
}
