// Package platformtest runs local fake WeChat and Alipay servers that the
// real SDKs talk to in tests: the WeChat SDK through a rewriting
// util.DefaultHTTPClient transport, the Alipay SDK through its gateway
// option, with request signatures checked and responses signed by a test
// "Alipay" key. Either fake can leave chosen requests unanswered (Hang), and
// a BlackHole stands for an egress that accepts connections and never
// answers, so tests can show that no call waits past its deadline.
package platformtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"

	"healthcode/miniprogram"
	"healthcode/models"
)

// WeChatUser is what jscode2session answers for a login code.
type WeChatUser struct {
	OpenID, UnionID, SessionKey string
}

// WeChatLegacy is what getinfo answers for a verify_result.
type WeChatLegacy struct {
	IdentifyRet     int
	OpenID          string
	IDCardNumberMD5 string
	NameUTF8MD5     string
	// IdentifiedAt is when the check passed (identify_time).
	IdentifiedAt time.Time
}

// wechatVerification is one getverifyid the fake issued.
type wechatVerification struct {
	outSeqNo, openID, certHash string
}

// FakeWeChat is a fake api.weixin.qq.com. Fields are guarded by Mu; set
// them before the calls that read them.
type FakeWeChat struct {
	Server           *httptest.Server
	AppID, AppSecret string

	Mu sync.Mutex
	// Users answers jscode2session by js_code; other codes get errcode 40029.
	Users map[string]WeChatUser
	// Outcomes answers queryverifyinfo by verify_id: "pass" (the default),
	// "fail" (verify_ret 90002) or "cancel" (errcode 90100).
	Outcomes map[string]string
	// Legacy answers getinfo by verify_result.
	Legacy map[string]WeChatLegacy
	// Phones answers getuserphonenumber by code.
	Phones map[string]string
	// Hits counts requests by path.
	Hits map[string]int
	// Bodies holds every JSON body received, by path.
	Bodies map[string][]map[string]any
	// Hang makes requests to a path wait, unanswered, until the client
	// gives up or the test ends: a WeChat that does not answer.
	Hang map[string]bool

	token         string
	tokenSerial   int
	verifications map[string]wechatVerification
	verifySerial  int
	released      chan struct{}
}

var outSeqNoPattern = regexp.MustCompile(`^[0-9A-Za-z_-]{5,32}$`)

// NewWeChat starts a fake WeChat server and points the SDK's global HTTP
// client at it until the test ends. Tests using it must not run in parallel.
func NewWeChat(t testing.TB) *FakeWeChat {
	t.Helper()
	f := &FakeWeChat{
		AppID: "wx-test-app", AppSecret: "wx-test-secret-value",
		Users: map[string]WeChatUser{}, Outcomes: map[string]string{}, Legacy: map[string]WeChatLegacy{},
		Phones: map[string]string{}, Hits: map[string]int{}, Bodies: map[string][]map[string]any{},
		Hang: map[string]bool{}, verifications: map[string]wechatVerification{}, released: make(chan struct{}),
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	target, _ := url.Parse(f.Server.URL)
	saved := util.DefaultHTTPClient
	util.DefaultHTTPClient = &http.Client{Transport: rewriteTransport{target: target}}
	t.Cleanup(func() {
		util.DefaultHTTPClient = saved
		f.Server.Close()
	})
	t.Cleanup(func() { close(f.released) }) // runs first: hung requests end before Close waits for them
	return f
}

// Options returns the options that build the real adapter against the fake.
func (f *FakeWeChat) Options(clock models.Clock) miniprogram.WeChatOptions {
	return miniprogram.WeChatOptions{AppID: f.AppID, AppSecret: f.AppSecret, Clock: clock}
}

// InvalidateToken makes the current access token invalid (errcode 40001),
// as when another process fetched a new one.
func (f *FakeWeChat) InvalidateToken() {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.token = "revoked"
}

// HitCount returns how many requests reached path.
func (f *FakeWeChat) HitCount(path string) int {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.Hits[path]
}

// rewriteTransport sends every request to the fake, whatever its host.
type rewriteTransport struct{ target *url.URL }

func (rt rewriteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.URL.Scheme, r.URL.Host, r.Host = rt.target.Scheme, rt.target.Host, rt.target.Host
	return http.DefaultTransport.RoundTrip(r)
}

func (f *FakeWeChat) serve(w http.ResponseWriter, r *http.Request) {
	f.Mu.Lock()
	f.Hits[r.URL.Path]++
	if f.Hang[r.URL.Path] {
		f.Mu.Unlock()
		hang(r, f.released)
		return
	}
	defer f.Mu.Unlock()
	q := r.URL.Query()
	var body map[string]any
	if r.Method == http.MethodPost {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			reply(w, map[string]any{"errcode": 47001, "errmsg": "data format error"})
			return
		}
		f.Bodies[r.URL.Path] = append(f.Bodies[r.URL.Path], body)
	}
	str := func(k string) string { s, _ := body[k].(string); return s }

	switch r.URL.Path {
	case "/cgi-bin/token":
		if q.Get("appid") != f.AppID || q.Get("secret") != f.AppSecret {
			reply(w, map[string]any{"errcode": 40013, "errmsg": "invalid appid"})
			return
		}
		f.tokenSerial++
		f.token = fmt.Sprintf("token-%d", f.tokenSerial)
		reply(w, map[string]any{"access_token": f.token, "expires_in": 7200})
		return
	case "/sns/jscode2session":
		u, ok := f.Users[q.Get("js_code")]
		if q.Get("appid") != f.AppID || q.Get("secret") != f.AppSecret || q.Get("grant_type") != "authorization_code" || !ok {
			reply(w, map[string]any{"errcode": 40029, "errmsg": "invalid code"})
			return
		}
		reply(w, map[string]any{"openid": u.OpenID, "session_key": u.SessionKey, "unionid": u.UnionID})
		return
	}

	if q.Get("access_token") == "" || q.Get("access_token") != f.token {
		reply(w, map[string]any{"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"})
		return
	}
	switch r.URL.Path {
	case "/cityservice/face/identify/getverifyid":
		cert, _ := body["cert_info"].(map[string]any)
		certType, _ := cert["cert_type"].(string)
		name, _ := cert["cert_name"].(string)
		number, _ := cert["cert_no"].(string)
		if !outSeqNoPattern.MatchString(str("out_seq_no")) || certType != "IDENTITY_CARD" || name == "" || number == "" || str("openid") == "" {
			reply(w, map[string]any{"errcode": 47001, "errmsg": "invalid argument"})
			return
		}
		f.verifySerial++
		id := fmt.Sprintf("wx-verify-%d", f.verifySerial)
		f.verifications[id] = wechatVerification{
			outSeqNo: str("out_seq_no"), openID: str("openid"), certHash: miniprogram.CertHash(certType, name, number),
		}
		reply(w, map[string]any{"errcode": 0, "errmsg": "ok", "verify_id": id, "expires_in": 3600})
	case "/cityservice/face/identify/queryverifyinfo":
		v, ok := f.verifications[str("verify_id")]
		if !ok || v.outSeqNo != str("out_seq_no") || v.openID != str("openid") || v.certHash != str("cert_hash") {
			reply(w, map[string]any{"errcode": 90021, "errmsg": "verify info mismatch"})
			return
		}
		switch f.Outcomes[str("verify_id")] {
		case "fail":
			reply(w, map[string]any{"errcode": 0, "errmsg": "ok", "verify_ret": 90002})
		case "cancel":
			reply(w, map[string]any{"errcode": 90100, "errmsg": "user canceled"})
		default:
			reply(w, map[string]any{"errcode": 0, "errmsg": "ok", "verify_ret": 10000})
		}
	case "/cityservice/face/identify/getinfo":
		l, ok := f.Legacy[str("verify_result")]
		if !ok {
			reply(w, map[string]any{"errcode": 90001, "errmsg": "invalid verify_result"})
			return
		}
		reply(w, map[string]any{"errcode": 0, "errmsg": "ok", "identify_ret": l.IdentifyRet, "openid": l.OpenID,
			"id_card_number_md5": l.IDCardNumberMD5, "name_utf8_md5": l.NameUTF8MD5, "identify_time": l.IdentifiedAt.Unix()})
	case "/wxa/business/getuserphonenumber":
		phone, ok := f.Phones[str("code")]
		if !ok {
			reply(w, map[string]any{"errcode": 40029, "errmsg": "invalid code"})
			return
		}
		reply(w, map[string]any{"errcode": 0, "errmsg": "ok", "phone_info": map[string]any{
			"phoneNumber": phone, "purePhoneNumber": phone, "countryCode": "86",
			"watermark": map[string]any{"timestamp": 1700000000, "appid": f.AppID},
		}})
	default:
		http.NotFound(w, r)
	}
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
