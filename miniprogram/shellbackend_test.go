package miniprogram_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"healthcode/config"
	"healthcode/handlers"
	"healthcode/miniprogram"
	"healthcode/miniprogram/platformtest"
	"healthcode/models"
	"healthcode/models/codetoken"
	"healthcode/models/document"
	"healthcode/models/groupcommit"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

// shellClock starts at a fixed instant (noon in Shanghai) and moves on in
// real time, as the JavaScript tests run in real time: the tests do not
// depend on the calendar date, and a face check passed "today" stays
// today for the few minutes they take.
type shellClock struct {
	start time.Time
	wall  time.Time
}

func (c shellClock) Now() time.Time { return c.start.Add(time.Since(c.wall)) }

// shellStart is where the shells' backend clock starts: 2026-11-23 12:00
// in Shanghai.
var shellStart = time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)

// shellOperatorKey authorises the JavaScript tests' operator calls.
const shellOperatorKey = "shell-test-operator-key-0123456789"

// shellMaxInFlight is the backend's admission limit: small, so a test can
// hold every slot and see a real 503 with Retry-After.
const shellMaxInFlight = 4

// shellUsers are the test users of each platform (harness/users.json).
type shellUsers struct {
	WeChat []string `json:"wechat"`
	Alipay []string `json:"alipay"`
}

// shellPerson is an identity the JavaScript tests type into the shells.
type shellPerson struct {
	Name      string `json:"name"`
	DocType   string `json:"doc_type"`
	DocNumber string `json:"doc_number"`
}

type shellLoginCodes struct {
	Codes  []string `json:"codes"`
	OpenID string   `json:"open_id"`
}

// shellFixtures is what the JavaScript tests read (HEALTHCODE_SHELL_FIXTURES).
type shellFixtures struct {
	Backend     string                 `json:"backend"`
	Closed      string                 `json:"closed"`
	OperatorKey string                 `json:"operator_key"`
	MaxInFlight int                    `json:"max_in_flight"`
	People      map[string]shellPerson `json:"people"`
	WeChat      struct {
		Users map[string]shellLoginCodes `json:"users"`
		// Legacy is the verify_result of the older face flow, by user.
		Legacy map[string]string `json:"legacy"`
	} `json:"wechat"`
	Alipay struct {
		Users   map[string]shellLoginCodes `json:"users"`
		Gateway string                     `json:"gateway"`
	} `json:"alipay"`
}

// shellBackend is the real HTTP service (the handlers on a real SQLite
// store, the real WeChat and Alipay SDK adapters pointed at the local fake
// WeChat server and fake Alipay gateway) listening on 127.0.0.1.
type shellBackend struct {
	URL          string
	FixturesFile string
	Logs         *syncBuffer
}

// syncBuffer collects the backend's log while requests run.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startShellBackend wires the service as `serve` does, with the SDKs
// pointed at the fakes (serve has no setting for an Alipay gateway), serves
// it on 127.0.0.1:0 and writes the fixtures file. Tests using it must not
// run in parallel: the fake WeChat server replaces the SDK's global client.
func startShellBackend(t *testing.T, users shellUsers) *shellBackend {
	t.Helper()
	clock := shellClock{start: shellStart, wall: time.Now()}
	wechat := platformtest.NewWeChat(t)
	alipayFake := platformtest.NewAlipay(t)
	fx := shellFixtures{OperatorKey: shellOperatorKey, MaxInFlight: shellMaxInFlight, People: map[string]shellPerson{}}
	fx.WeChat.Users, fx.WeChat.Legacy = map[string]shellLoginCodes{}, map[string]string{}
	fx.Alipay.Users, fx.Alipay.Gateway = map[string]shellLoginCodes{}, alipayFake.Server.URL

	cfg := config.Default()
	cfg.Admission.MaxInFlight = shellMaxInFlight
	// Generous limits but for page tickets: 60 a minute is one a second,
	// so a test that spends them all sees a real 429 with Retry-After: 1.
	cfg.RateLimit = config.RateLimit{LoginPerMinuteIP: 6000, IdentityPerMinuteIP: 6000, IdentityPerMinuteUser: 600,
		CodePerMinuteUser: 600, VerifyPerMinuteUser: 600, TicketPerMinuteUser: 60}
	loc := cfg.Location()
	db := storetest.Open(t, "sqlite")
	st := store.NewStore(db, storetest.Vault(t), clock, loc)

	var households []models.HouseholdRow
	serial := 0
	person := func(key, name string, birth time.Time, wantX bool) document.Document {
		serial++
		for seq := 0; seq < 1000; seq++ {
			first17 := fmt.Sprintf("310101%s%03d", birth.Format("20060102"), (serial*7+seq)%1000)
			n := first17 + string(document.CheckDigit(first17))
			if wantX != strings.HasSuffix(n, "X") {
				continue
			}
			fx.People[key] = shellPerson{Name: name, DocType: string(document.ResidentID), DocNumber: n}
			return document.Document{Type: document.ResidentID, Number: n}
		}
		t.Fatalf("no resident ID for %s", key)
		return document.Document{}
	}
	people := func(platform, user string, i int) {
		key := user
		if platform == models.PlatformAlipay {
			key = "alipay-" + user
		}
		// Names of three Han characters each; the holder's number ends in X
		// for every other user, typed in lower case by the tests.
		holder := person(key, "王"+hanAt(i)+"明", time.Date(1980, 1, 1+i, 0, 0, 0, 0, time.UTC), i%2 == 0)
		mother := person(key+"-household", "李"+hanAt(i)+"芳", time.Date(1955, 3, 1+i, 0, 0, 0, 0, time.UTC), false)
		person(key+"-manual", "赵"+hanAt(i)+"强", time.Date(1982, 5, 1+i, 0, 0, 0, 0, time.UTC), false)
		household := fmt.Sprintf("HH-%s-%s", platform, user)
		households = append(households, models.HouseholdRow{HouseholdID: household, Doc: holder}, models.HouseholdRow{HouseholdID: household, Doc: mother})
	}

	wechat.Mu.Lock()
	for i, u := range users.WeChat {
		openID := "openid-" + u
		codes := shellLoginCodes{OpenID: openID}
		for j := range 12 {
			code := fmt.Sprintf("wx-%s-login-%d", u, j)
			codes.Codes = append(codes.Codes, code)
			wechat.Users[code] = platformtest.WeChatUser{OpenID: openID, SessionKey: "c2Vzc2lvbi1rZXktMDEyMw=="}
		}
		fx.WeChat.Users[u] = codes
		people(models.PlatformWeChat, u, i)
		p := fx.People[u]
		numberMD5, nameMD5 := md5.Sum([]byte(p.DocNumber)), md5.Sum([]byte(p.Name))
		result := "legacy-verify-result-" + u
		wechat.Legacy[result] = platformtest.WeChatLegacy{OpenID: openID, IDCardNumberMD5: hex.EncodeToString(numberMD5[:]),
			NameUTF8MD5: hex.EncodeToString(nameMD5[:]), IdentifiedAt: clock.Now()}
		fx.WeChat.Legacy[u] = result
	}
	wechat.Mu.Unlock()
	alipayFake.Mu.Lock()
	for i, u := range users.Alipay {
		openID := "alipay-open-" + u
		codes := shellLoginCodes{OpenID: openID}
		for j := range 12 {
			code := fmt.Sprintf("ap-%s-auth-%d", u, j)
			codes.Codes = append(codes.Codes, code)
			alipayFake.Users[code] = platformtest.AlipayUser{UserID: fmt.Sprintf("2088%012d", i+1), OpenID: openID}
		}
		fx.Alipay.Users[u] = codes
		people(models.PlatformAlipay, u, len(users.WeChat)+i)
	}
	alipayFake.Mu.Unlock()
	if _, err := st.ImportHouseholds(t.Context(), households, "operator:test", "shell-test"); err != nil {
		t.Fatal(err)
	}

	alipayPlatform, err := miniprogram.NewAlipay(alipayFake.Options(clock))
	if err != nil {
		t.Fatal(err)
	}
	platforms := map[string]miniprogram.Platform{
		models.PlatformWeChat: miniprogram.NewWeChat(miniprogram.WeChatOptions{AppID: wechat.AppID, AppSecret: wechat.AppSecret, Clock: clock}),
		models.PlatformAlipay: alipayPlatform,
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	keys, err := codetoken.NewKeyring(codetoken.GenerateKey(clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	status, verifiers := models.NewStatusBook(), models.NewVerifierBook()
	if err := st.RefreshStatus(t.Context(), status); err != nil {
		t.Fatal(err)
	}
	verifications := groupcommit.New(groupcommit.Options{MaxBatch: 64, MaxWait: time.Millisecond, Queue: 1024, Writers: 1},
		st.RecordVerifications)
	service, err := handlers.New(handlers.Deps{
		Config: cfg, Store: st, Sessions: models.NewSessions(storetest.RandomKey(), cfg.SessionTTL.D(), clock, loc, models.NewRevocations()),
		Platforms: platforms, Keys: keys, Status: status, Verifiers: verifiers, Verifications: verifications,
		OperatorKeys: []string{shellOperatorKey}, Clock: clock, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: service.Handler, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: cfg.HTTP.ReadTimeout.D(),
		WriteTimeout: cfg.HTTP.WriteTimeout.D(), ConnContext: handlers.ConnContext, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(handlers.TrackArrivals(ln)) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		verifications.Close()
	})
	fx.Backend = "http://" + ln.Addr().String()
	fx.Closed = closedAddress(t)

	file := filepath.Join(t.TempDir(), "fixtures.json")
	b, _ := json.MarshalIndent(fx, "", "  ")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return &shellBackend{URL: fx.Backend, FixturesFile: file, Logs: logs}
}

// hanAt is the i-th of a few common given-name characters.
func hanAt(i int) string {
	chars := []rune("小国建文华立志永海春晓子嘉佳")
	return string(chars[i%len(chars)])
}

// closedAddress is a loopback address where nothing listens: a port that
// was free a moment ago.
func closedAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// readUsers reads the test users both sides agree on.
func readUsers(t *testing.T, dir string) shellUsers {
	t.Helper()
	var u shellUsers
	f, err := os.Open(filepath.Join(dir, "harness", "users.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	if err := json.Unmarshal(b, &u); err != nil {
		t.Fatalf("harness/users.json: %v", err)
	}
	return u
}
