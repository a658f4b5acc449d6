package platformtest

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"

	"healthcode/miniprogram"
	"healthcode/models"
)

// AlipayUser is what alipay.system.oauth.token answers for an auth code.
type AlipayUser struct {
	UserID, OpenID, UnionID string
}

// FakeAlipay is a fake Alipay open-platform gateway. It checks the app's
// RSA2 request signature and signs its answers with a test "Alipay" key
// whose public half the client loads. Fields are guarded by Mu.
type FakeAlipay struct {
	Server *httptest.Server
	AppID  string
	// AppPrivateKey and AlipayPublicKey are the PEM keys the client loads.
	AppPrivateKey, AlipayPublicKey string
	// EncryptKey is the base64 AES key for phone payloads.
	EncryptKey string

	Mu sync.Mutex
	// Users answers oauth tokens by auth code; other codes get a business
	// failure (code 40002, isv.code-invalid) inside a signed answer.
	Users map[string]AlipayUser
	// Passed answers certify queries by certify_id: "T" (the default) or "F".
	Passed map[string]string
	// SignWithWrongKey makes the fake sign answers with a key the client
	// does not trust.
	SignWithWrongKey bool
	// Hits counts requests by method name.
	Hits map[string]int
	// BadSignatures counts requests whose app signature did not verify.
	BadSignatures int
	// Hang makes requests for a method wait, unanswered, until the client
	// gives up or the test ends: an Alipay that does not answer.
	Hang map[string]bool
	// CertSN, when set, is sent as alipay_cert_sn beside every signed
	// answer, as in certificate mode: the SDK then downloads that
	// certificate (alipay.open.app.alipaycert.download) before it checks
	// the signature.
	CertSN string

	appPublic     *rsa.PublicKey
	alipayPrivate *rsa.PrivateKey
	wrongPrivate  *rsa.PrivateKey
	certifies     map[string]bool
	serial        int
	released      chan struct{}
}

// NewAlipay starts a fake Alipay gateway with fresh keys.
func NewAlipay(t testing.TB) *FakeAlipay {
	t.Helper()
	appKey, alipayKey, wrongKey := rsaKey(t), rsaKey(t), rsaKey(t)
	aesKey := make([]byte, 16)
	rand.Read(aesKey)
	pub, _ := x509.MarshalPKIXPublicKey(&alipayKey.PublicKey)
	f := &FakeAlipay{
		AppID:           "2021000000000001",
		AppPrivateKey:   string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(appKey)})),
		AlipayPublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})),
		EncryptKey:      base64.StdEncoding.EncodeToString(aesKey),
		Users:           map[string]AlipayUser{}, Passed: map[string]string{}, Hits: map[string]int{},
		appPublic: &appKey.PublicKey, alipayPrivate: alipayKey, wrongPrivate: wrongKey,
		certifies: map[string]bool{}, Hang: map[string]bool{}, released: make(chan struct{}),
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Server.Close)
	t.Cleanup(func() { close(f.released) }) // runs first: hung requests end before Close waits for them
	return f
}

// Options returns the client options that point the real SDK at the fake.
func (f *FakeAlipay) Options(clock models.Clock) miniprogram.AlipayOptions {
	return miniprogram.AlipayOptions{
		AppID: f.AppID, PrivateKey: f.AppPrivateKey, AlipayPublicKey: f.AlipayPublicKey,
		EncryptKey: f.EncryptKey, Gateway: f.Server.URL, Clock: clock,
	}
}

// HitCount returns how many requests called method.
func (f *FakeAlipay) HitCount(method string) int {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.Hits[method]
}

// Requests returns how many requests reached the fake, whatever the method.
func (f *FakeAlipay) Requests() int {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	n := 0
	for _, hits := range f.Hits {
		n += hits
	}
	return n
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signingString is Alipay's: "k=v" pairs sorted and joined by "&", leaving
// out the keys in skip.
func signingString(values url.Values, skip ...string) string {
	var pairs []string
	for k, vs := range values {
		if contains(skip, k) {
			continue
		}
		for _, v := range vs {
			pairs = append(pairs, k+"="+v)
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func rsaSign(key *rsa.PrivateKey, data []byte) string {
	sum := sha256.Sum256(data)
	sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	return base64.StdEncoding.EncodeToString(sig)
}

// SignNotification signs an asynchronous notification's form as Alipay
// does (sign and sign_type excluded) and returns the form with both set.
func (f *FakeAlipay) SignNotification(form url.Values) url.Values {
	out := url.Values{}
	for k, v := range form {
		out[k] = append([]string(nil), v...)
	}
	out.Set("sign_type", "RSA2")
	out.Set("sign", rsaSign(f.alipayPrivate, []byte(signingString(out, "sign", "sign_type"))))
	return out
}

// PhonePayload returns what my.getPhoneNumber hands the mini-program for
// phone: the AES-encrypted answer and Alipay's signature over it.
func (f *FakeAlipay) PhonePayload(phone string) string {
	key, _ := base64.StdEncoding.DecodeString(f.EncryptKey)
	plain, _ := json.Marshal(map[string]string{"code": "10000", "msg": "Success", "mobile": phone})
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	plain = append(plain, strings.Repeat(string(rune(pad)), pad)...)
	block, _ := aes.NewCipher(key)
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, make([]byte, aes.BlockSize)).CryptBlocks(ct, plain)
	response := `"` + base64.StdEncoding.EncodeToString(ct) + `"`
	payload, _ := json.Marshal(map[string]string{"response": strings.Trim(response, `"`), "sign": rsaSign(f.alipayPrivate, []byte(response))})
	return string(payload)
}

func (f *FakeAlipay) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	form := r.PostForm
	method := form.Get("method")
	f.Mu.Lock()
	f.Hits[method]++
	if f.Hang[method] {
		f.Mu.Unlock()
		hang(r, f.released)
		return
	}
	defer f.Mu.Unlock()

	sig, err := base64.StdEncoding.DecodeString(form.Get("sign"))
	sum := sha256.Sum256([]byte(signingString(form, "sign")))
	if err != nil || rsa.VerifyPKCS1v15(f.appPublic, crypto.SHA256, sum[:], sig) != nil || form.Get("app_id") != f.AppID {
		f.BadSignatures++
		f.write(w, "error_response", `{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错"}`)
		return
	}
	content := []byte(form.Get("biz_content"))
	if form.Get("encrypt_type") == "AES" {
		// Content encryption is on when the app has an AES key.
		if content, err = f.decrypt(string(content)); err != nil {
			f.write(w, "error_response", `{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.decryption-error"}`)
			return
		}
	}
	var biz map[string]any
	json.Unmarshal(content, &biz)
	str := func(k string) string { s, _ := biz[k].(string); return s }
	field := strings.ReplaceAll(method, ".", "_") + "_response"

	switch method {
	case "alipay.system.oauth.token":
		u, ok := f.Users[form.Get("code")]
		if !ok || form.Get("grant_type") != "authorization_code" {
			f.write(w, field, `{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.code-invalid","sub_msg":"授权码code无效"}`)
			return
		}
		b, _ := json.Marshal(map[string]any{"user_id": u.UserID, "open_id": u.OpenID, "union_id": u.UnionID,
			"access_token": "alipay-access-token", "expires_in": 1209600})
		f.write(w, field, string(b))
	case "alipay.user.certify.open.initialize":
		id, _ := biz["identity_param"].(map[string]any)
		if str("biz_code") != "FACE" || id["identity_type"] != "CERT_INFO" || id["cert_type"] != "IDENTITY_CARD" ||
			id["cert_name"] == "" || id["cert_no"] == "" || len(str("outer_order_no")) == 0 || len(str("outer_order_no")) > 32 {
			f.write(w, field, `{"code":"40004","msg":"Business Failed","sub_code":"INVALID_PARAMETER","sub_msg":"参数有误"}`)
			return
		}
		f.serial++
		certifyID := fmt.Sprintf("alipay-certify-%d", f.serial)
		f.certifies[certifyID] = true
		f.write(w, field, fmt.Sprintf(`{"code":"10000","msg":"Success","certify_id":"%s"}`, certifyID))
	case "alipay.user.certify.open.query":
		if !f.certifies[str("certify_id")] {
			f.write(w, field, `{"code":"40004","msg":"Business Failed","sub_code":"CERTIFY_ID_NOT_EXIST","sub_msg":"认证不存在"}`)
			return
		}
		passed := f.Passed[str("certify_id")]
		if passed == "" {
			passed = "T"
		}
		f.write(w, field, fmt.Sprintf(`{"code":"10000","msg":"Success","passed":"%s"}`, passed))
	default:
		f.write(w, "error_response", `{"code":"40004","msg":"Business Failed","sub_code":"isv.invalid-method"}`)
	}
}

// BizContent returns the biz_content of a signed request or URL query in
// clear, decrypting it when content encryption is on.
func (f *FakeAlipay) BizContent(values url.Values) string {
	if values.Get("encrypt_type") != "AES" {
		return values.Get("biz_content")
	}
	plain, _ := f.decrypt(values.Get("biz_content"))
	return string(plain)
}

// decrypt opens an AES-CBC (zero IV, PKCS#7) base64 biz_content.
func (f *FakeAlipay) decrypt(b64 string) ([]byte, error) {
	key, _ := base64.StdEncoding.DecodeString(f.EncryptKey)
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("bad ciphertext")
	}
	block, _ := aes.NewCipher(key)
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, make([]byte, aes.BlockSize)).CryptBlocks(plain, ct)
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, fmt.Errorf("bad padding")
	}
	return plain[:len(plain)-pad], nil
}

// write answers {"<field>": biz, "sign": RSA2(biz)} with biz as written.
func (f *FakeAlipay) write(w http.ResponseWriter, field, biz string) {
	key := f.alipayPrivate
	if f.SignWithWrongKey {
		key = f.wrongPrivate
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	if f.CertSN != "" {
		fmt.Fprintf(w, `{"%s":%s,"alipay_cert_sn":"%s","sign":"%s"}`, field, biz, f.CertSN, rsaSign(key, []byte(biz)))
		return
	}
	fmt.Fprintf(w, `{"%s":%s,"sign":"%s"}`, field, biz, rsaSign(key, []byte(biz)))
}
