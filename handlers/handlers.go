// Package handlers is the HTTP surface of the service: the Gin routes, request
// binding, the JSON error envelope, middleware (request ids, access logs,
// recovery, body limits) and, later, the H5 pages.
package handlers

import (
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"healthcode/config"
	"healthcode/miniprogram"
	"healthcode/models"
	"healthcode/models/codetoken"
	"healthcode/models/fault"
	"healthcode/models/groupcommit"
	"healthcode/models/store"
)

// Deps is what the handlers need, built once by the composition root.
type Deps struct {
	Config   config.Config
	Store    *store.Store
	Sessions *models.Sessions
	// Platforms are the enabled mini-program platforms by name.
	Platforms map[string]miniprogram.Platform
	// Keys sign codes; Status holds everyone's colour in memory.
	Keys   *codetoken.Keyring
	Status *models.StatusBook
	// Verifiers holds the verifier roles in memory.
	Verifiers *models.VerifierBook
	// Offline holds everyone's current offline-code serial in memory.
	Offline *models.OfflineBook
	// Kiosks holds the registered kiosks in memory (nil: none is known).
	Kiosks *models.KioskBook
	// Importer runs status imports as background jobs.
	Importer *store.Importer
	// Verifications records scans through group commit.
	Verifications *groupcommit.Writer[*models.Verification]
	// Samplers holds the sampler roles in memory; Samples registers
	// samples through group commit.
	Samplers *models.SamplerBook
	Samples  *groupcommit.Writer[*models.SampleRegistration]
	// Venues is the venue registry in memory; Visits records check-ins
	// through group commit.
	Venues *models.VenueBook
	Visits *groupcommit.Writer[*models.Visit]
	// OperatorKeys authorise operator requests (configured or generated).
	OperatorKeys []string
	Clock        models.Clock
	Logger       *slog.Logger
}

// API holds the dependencies every handler method uses.
type API struct {
	cfg       config.Config
	store     *store.Store
	sessions  *models.Sessions
	platforms map[string]miniprogram.Platform
	keys      *codetoken.Keyring
	status    *models.StatusBook
	operators []operatorKey
	// peers are the peer regions' keys (HEALTHCODE_PEER_KEYS).
	peers     []operatorKey
	verifiers *models.VerifierBook
	offline   *models.OfflineBook
	kiosks    *models.KioskBook
	importer  *store.Importer
	// verifications is the group-commit writer of scan records.
	verifications *groupcommit.Writer[*models.Verification]
	samplers      *models.SamplerBook
	// samples is the group-commit writer of sample registrations.
	samples *groupcommit.Writer[*models.SampleRegistration]
	venues  *models.VenueBook
	// visits is the group-commit writer of venue check-ins.
	visits *groupcommit.Writer[*models.Visit]
	// checker judges scanned codes.
	checker   *models.Checker
	admission *admission
	metrics   *metrics
	codes     *codeCache
	scans     *scanCounter // each verifier's scans today on this node
	ready     readiness
	// draining is set once the node is stopping: /readyz then answers 503.
	draining atomic.Bool
	// nucleicCodes hands the same 核酸码 to the same person for half its life.
	nucleicCodes *codeCache
	clock        models.Clock
	loc          *time.Location
	days         *models.Days
	log          *slog.Logger

	loginIP, identityIP, identityAccount, codeAccount, verifyAccount, ticketAccount, checkInAccount, venueAccount *rateLimiter
}

// Service is the HTTP surface the composition root serves.
type Service struct {
	// Handler serves every route behind admission control, /metrics among
	// them unless Config.MetricsAddr is set.
	Handler http.Handler
	// Metrics serves /metrics alone, for the listener on
	// Config.MetricsAddr.
	Metrics http.Handler

	api *API
}

// Drain makes /readyz answer 503 draining from now on while every route
// keeps serving, so a balancer takes the node out before it stops.
func (s *Service) Drain() { s.api.draining.Store(true) }

// New returns the service's HTTP handlers with every route registered. It
// fails only when a trusted proxy is not an address or a CIDR range.
func New(d Deps) (*Service, error) {
	api := newAPI(d)
	r, err := api.router()
	if err != nil {
		return nil, err
	}
	return &Service{Handler: &front{api: api, router: r}, Metrics: api.metricsRouter(), api: api}, nil
}

// newAPI builds the handlers' shared state from d.
func newAPI(d Deps) *API {
	rl := d.Config.RateLimit
	if d.Venues == nil {
		d.Venues = models.NewVenueBook() // no venues: every venue code is unknown
	}
	if d.Kiosks == nil {
		d.Kiosks = models.NewKioskBook() // no kiosks: every kiosk key is refused
	}
	adm := newAdmission(d.Config.Admission.MaxInFlight, d.Config.Admission.MaxQueue, d.Config.Admission.MaxWait.D(),
		d.Config.Admission.MaxDelay.D())
	return &API{
		cfg: d.Config, store: d.Store, sessions: d.Sessions, platforms: d.Platforms,
		keys: d.Keys, status: d.Status, operators: newOperatorKeys(d.OperatorKeys), peers: newPeerKeys(d.Config.PeerKeys),
		verifiers: d.Verifiers, offline: d.Offline, kiosks: d.Kiosks, verifications: d.Verifications, importer: d.Importer,
		samplers: d.Samplers, samples: d.Samples, venues: d.Venues, visits: d.Visits,
		checker: models.NewChecker(d.Store, d.Config.Region, d.Keys.ForIssuer(d.Config.Region),
			codetoken.Rules{Skew: d.Config.ClockSkew.D(), Dynamic: d.Config.CodeTTL.D()}, d.Status, d.Venues, d.Clock).WithOffline(d.Offline),
		admission:    adm,
		metrics:      newMetrics(adm, d.Verifications, d.Samples, d.Visits, d.Logger),
		codes:        newCodeCache(codeReuse, 1<<20),
		nucleicCodes: newCodeCache(codetoken.NucleicLifetime/2, maxNucleicCodes),
		scans:        newScanCounter(d.Config.Location()),
		clock:        d.Clock, loc: d.Config.Location(), days: models.NewDays(d.Config.Location()), log: d.Logger,
		loginIP:         newRateLimiter(d.Clock, rl.LoginPerMinuteIP),
		identityIP:      newRateLimiter(d.Clock, rl.IdentityPerMinuteIP),
		identityAccount: newRateLimiter(d.Clock, rl.IdentityPerMinuteUser),
		codeAccount:     newRateLimiter(d.Clock, rl.CodePerMinuteUser),
		verifyAccount:   newRateLimiter(d.Clock, rl.VerifyPerMinuteUser),
		ticketAccount:   newRateLimiter(d.Clock, rl.TicketPerMinuteUser),
		checkInAccount:  newRateLimiter(d.Clock, rl.CheckInPerMinuteUser),
		venueAccount:    newRateLimiter(d.Clock, rl.VenuePerMinuteUser),
	}
}

// router builds the Gin engine: middleware, error routes and every route.
func (api *API) router() (*gin.Engine, error) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// Uploads beyond a megabyte spill to temporary files, not memory.
	r.MaxMultipartMemory = 1 << 20
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	if err := r.SetTrustedProxies(api.cfg.HTTP.TrustedProxies); err != nil {
		return nil, err
	}
	r.Use(requestID(), api.accessLog(), api.recovery(), api.bodyLimit())
	r.NoRoute(func(c *gin.Context) {
		respondError(c, api.log, errNotFound)
	})
	r.NoMethod(func(c *gin.Context) {
		respondError(c, api.log, fault.Errorf(kindMethod, codeMethodNotAllowed, "不支持该请求方法"))
	})
	api.routes(r)
	return r, nil
}

// Upload routes take bodies up to HEALTHCODE_IMPORT_MAX_BYTES.
const (
	routeStatusImports = "/status-imports"
	routeHouseholds    = "/households"
	routeBirthRecords  = "/birth-records"
	// routeAlipayNotify takes Alipay's form-encoded notifications.
	routeAlipayNotify = "/face/notify/alipay"
)

// largeBodyRoutes are the routes whose bodies may exceed the usual limit.
var largeBodyRoutes = map[string]bool{
	"/api/v1/admin" + routeStatusImports:      true,
	"/api/v1/admin" + routeHouseholds:         true,
	"/api/v1/admin" + routeBirthRecords:       true,
	"/api/v1/admin" + routeNucleicResults:     true,
	"/api/v1/admin" + routeDisabilityRegister: true,
}

// routes lists every route of the service in one place.
func (api *API) routes(r *gin.Engine) {
	r.GET("/healthz", api.healthz)
	r.GET("/readyz", api.readyz)
	if api.cfg.MetricsAddr == "" {
		r.GET("/metrics", api.serveMetrics)
	}
	r.GET("/.well-known/healthcode-keys", api.jwks)

	// Bodies under /api/v1 and /h5/api are JSON unless bodyTypes says
	// otherwise.
	v1 := r.Group("/api/v1", api.requireMediaType)
	login := v1.Group("/auth", api.limitBy(api.loginIP, "login", clientKey))
	login.POST("/wechat", api.loginWeChat)
	login.POST("/alipay", api.loginAlipay)
	login.POST("/sandbox", api.loginSandbox)
	v1.POST("/auth/logout", api.requireSession, api.logout)

	// Identity and face endpoints cost platform calls: limited per address
	// and per account.
	limited := v1.Group("", api.limitBy(api.identityIP, "identity", clientKey), api.requireSession,
		api.limitBy(api.identityAccount, "identity", accountKey))
	v1.GET("/me", api.requireSession, api.me)
	limited.POST("/identity", api.claimIdentity)
	limited.POST("/me/phone", api.bindPhone)
	limited.POST("/face/start", api.startFace)
	limited.POST("/face/callback", api.faceCallback)
	v1.POST(routeAlipayNotify, api.alipayNotify)

	// Codes: shown from memory, verified by staff, opened in the web-view.
	// Every code shown, the holder's or a relative's, and every relative's
	// status lookup spends the account's code tokens.
	codeLimit := api.limitBy(api.codeAccount, "code", accountKey)
	v1.GET("/me/code", api.requireSession, codeLimit, api.myCode)
	v1.GET("/me/nucleic-code", api.requireSession, codeLimit, api.myNucleicCode)
	v1.POST("/me/offline-code", api.requireSession, codeLimit, api.issueOfflineCode)
	v1.GET("/me/offline-code", api.requireSession, codeLimit, api.currentOfflineCode)
	v1.POST("/me/offline-code/loss", api.requireSession, codeLimit, api.reportOfflineLoss)
	kiosk := v1.Group("/kiosk", api.limitBy(api.identityIP, "kiosk", clientKey), api.requireKiosk)
	kiosk.POST("/offline-codes", api.kioskIssue)
	kiosk.POST("/offline-codes/preview", api.kioskPreview)
	v1.GET("/offline-codes/revoked", api.requirePeerOrSession, api.limitBy(api.verifyAccount, "verify", peerOrAccountKey), api.offlineRevoked)
	v1.POST("/verify", api.requireSession, api.limitBy(api.verifyAccount, "verify", accountKey), api.verify)
	v1.POST("/h5/tickets", api.requireSession, api.limitBy(api.ticketAccount, "ticket", accountKey), api.createTicket)
	h5 := r.Group("/h5")
	h5.GET("/code", api.codePage)
	h5.GET("/verify", api.verifyPage)
	h5.GET("/sampler", api.samplerPage)
	h5.GET("/nucleic", api.nucleicPage)
	h5.GET("/offline/print", api.limitBy(api.identityIP, "print", clientKey), api.offlinePrintPage)
	h5.GET("/assets/:name", assetScript)
	h5api := h5.Group("/api", api.requireMediaType)
	h5api.GET("/code", api.requirePage(models.TicketCode), codeLimit, api.pageCode)
	h5api.POST("/verify", api.requirePage(models.TicketVerify), api.limitBy(api.verifyAccount, "verify", accountKey), api.pageVerify)
	h5api.GET("/verifier", api.requirePage(models.TicketVerify), api.pageVerifier)
	h5api.GET("/nucleic-code", api.requirePage(models.TicketNucleic), codeLimit, api.pageNucleicCode)
	sampler := h5api.Group("/sampling", api.requirePage(models.TicketSampler))
	sampler.POST("/tubes", api.openTube)
	sampler.POST("/tubes/:tube/samples", api.addSample)
	sampler.POST("/tubes/:tube/seal", api.sealTube)
	sampler.GET("/summary", api.samplingSummary)
	h5.GET("/checkin", api.checkInPage)
	h5.GET("/venue", api.venuePage)
	h5api.GET("/checkin", api.requirePage(models.TicketCheckIn), api.pageVisit)
	h5api.GET("/venue/checkins", api.requirePage(models.TicketVenue), api.limitBy(api.venueAccount, "venue", accountKey), api.pageRegister)

	// Operators: every action is audited.
	admin := v1.Group("/admin", api.requireOperator)
	admin.POST(routeStatusImports, api.statusImport)
	admin.GET("/imports/:id", api.importStatus)
	admin.POST("/verifiers", api.grantVerifier)
	admin.DELETE("/verifiers/:account_id", api.revokeVerifier)
	admin.POST(routeNucleicResults, api.nucleicResults)
	admin.POST(routeDisabilityRegister, api.disabilityRegister)
	admin.POST("/samplers", api.grantSampler)
	admin.POST("/kiosks", api.registerKiosk)
	admin.POST("/birth-dates", api.setBirthDate)
	admin.DELETE("/kiosks/:id", api.deleteKiosk)
	admin.DELETE("/samplers/:account_id", api.revokeSampler)
	admin.DELETE("/identities/:account_id", api.unbindIdentity)
	admin.POST(routeHouseholds, api.importHouseholds)
	admin.POST(routeBirthRecords, api.importBirths)
	admin.GET("/relative-reviews", api.listReviews)
	admin.POST("/relative-reviews/:id", api.decideReview)
	admin.GET("/venue-reviews", api.listVenueReviews)
	admin.POST("/venue-reviews/:id", api.decideVenueReview)

	// The sampling point: tubes and the people in them, for samplers.
	sampling := v1.Group("/sampling", api.requireSession)
	sampling.POST("/tubes", api.openTube)
	sampling.GET("/tubes/:tube", api.getTube)
	sampling.POST("/tubes/:tube/samples", api.addSample)
	sampling.POST("/tubes/:tube/seal", api.sealTube)
	sampling.GET("/summary", api.samplingSummary)

	// Relatives: proxy codes and lookups, only through an approved link.
	rel := v1.Group("/relatives", api.requireSession)
	rel.POST("", api.limitBy(api.identityAccount, "identity", accountKey), api.requireFaceToday, api.addRelative)
	rel.GET("", api.listRelatives)
	rel.DELETE("/:id", api.deleteRelative)
	rel.GET("/:id/status", codeLimit, api.requireFaceToday, api.relativeStatus)
	rel.GET("/:id/code", codeLimit, api.relativeCodeHandler) // relativeCode checks today's face verification
	rel.GET("/:id/nucleic-code", codeLimit, api.relativeNucleicCode)
	rel.POST("/:id/offline-code", codeLimit, api.issueOfflineCode)
	rel.GET("/:id/offline-code", codeLimit, api.currentOfflineCode)
	rel.POST("/:id/offline-code/loss", codeLimit, api.reportOfflineLoss)

	// Venues (场所码): registrars register and post them, visitors check in.
	// Scanning a venue code never changes anyone's colour.
	venues := v1.Group("/venues", api.requireSession, api.limitBy(api.venueAccount, "venue", accountKey))
	venues.POST("", api.requireFaceToday, api.registerVenue)
	venues.GET("", api.listVenues)
	venues.DELETE("/:id", api.endVenue)
	venues.POST("/:id/rotate", api.rotateVenue)
	venues.POST("/:id/deputies", api.addVenueDeputy)
	venues.GET("/:id/poster", api.venuePoster)
	venues.GET("/:id/checkins", api.venueCheckIns)
	venues.GET("/:id/checkins.csv", api.venueCheckInsCSV)
	venues.DELETE("/:id/checkins", api.deleteVenueCheckIns)
	v1.POST("/checkins", api.requireSession, api.limitBy(api.checkInAccount, "checkin", accountKey), api.requireFaceToday, api.checkIn)

	if api.cfg.SandboxEnabled() {
		// Development only: every flow can be tried from /dev without an
		// operator key or a real platform.
		v1.POST("/sandbox/face/:verify_id", api.sandboxDecideFace)
		v1.POST("/sandbox/verifier", api.requireSession, api.sandboxVerifier)
		v1.POST("/sandbox/status-list", api.requireSession, api.sandboxStatusList)
		v1.POST("/sandbox/household", api.requireSession, api.sandboxHousehold)
		r.GET("/sandbox/face/:verify_id", api.sandboxFacePage)
		r.GET("/dev", api.devPage)
	}
}
