package handlers

import (
	"github.com/gin-gonic/gin"

	"healthcode/models"
)

// samplerPage serves the sampler page (/h5/sampler): tube first, then
// people's codes one after another, with an offline queue in IndexedDB.
// Opened with a ticket of purpose "sampler", like the other pages.
func (api *API) samplerPage(c *gin.Context) { api.page(c, models.TicketSampler, "sampler.html") }
