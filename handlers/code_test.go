package handlers

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"healthcode/models"
	"healthcode/models/codetoken"
	"healthcode/models/document"
	"healthcode/models/fault"
)

// verifiedUser logs a sandbox user in, binds the identity and passes the
// sandbox face check; it returns the final bearer token and account id.
func (e *testEnv) verifiedUser(t testing.TB, user, name, number string) (token, accountID string) {
	t.Helper()
	login := e.sandboxLogin(t, user)
	token = e.bind(t, login.Token, name, "resident_id", number).Token
	start := e.startFace(t, token)
	e.json("POST", "/api/v1/sandbox/face/"+start.VerifyID, "", map[string]string{"outcome": "pass"})
	got := e.callback(t, token, start.VerifyID)
	if got.Status != "passed" {
		t.Fatalf("face check of %s: %+v", user, got)
	}
	return got.Token, login.Account.ID
}

// importList uploads a status list as an operator and answers the upload's
// response (202 with the job, or a refusal).
func (e *testEnv) importList(source, csv string) *httptest.ResponseRecorder {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("source", source)
	f, _ := w.CreateFormFile("file", "list.csv")
	f.Write([]byte(csv))
	w.Close()
	return e.do("POST", "/api/v1/admin/status-imports", &body,
		"Content-Type", w.FormDataContentType(), "Authorization", "Operator "+testOperatorKey)
}

// importListDone uploads a list and waits for its job to finish; the
// finished job comes back, and this node's book holds what it did.
func (e *testEnv) importListDone(t testing.TB, source, csv string) importView {
	t.Helper()
	job := decode[importResponse](t, e.importList(source, csv), 202).Import
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		job = decode[importResponse](t, e.do("GET", "/api/v1/admin/imports/"+job.ID, nil, "Authorization", "Operator "+testOperatorKey), 200).Import
		if job.State == models.ImportDone || job.State == models.ImportRejected || job.State == models.ImportFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("import %s stuck in %s", job.ID, job.State)
		}
	}
	if err := e.store.RefreshStatus(t.Context(), e.status); err != nil {
		t.Fatal(err)
	}
	return job
}

// makeVerifier makes a face-verified staff account a verifier.
func (e *testEnv) makeVerifier(t testing.TB, user, name, number string) string {
	t.Helper()
	token, id := e.verifiedUser(t, user, name, number)
	rec := e.do("POST", "/api/v1/admin/verifiers", strings.NewReader(`{"account_id":"`+id+`","place":"人民广场地铁站"}`),
		"Content-Type", "application/json", "Authorization", "Operator "+testOperatorKey)
	if rec.Code != 201 {
		t.Fatalf("grant verifier = %d %s", rec.Code, rec.Body)
	}
	return token
}

var staffNumber = func() string { n := "31011519800101123"; return n + string(document.CheckDigit(n)) }()

func TestShowCode(t *testing.T) {
	e := newTestEnv(t)
	login := e.sandboxLogin(t, "alice")
	wantError(t, e.json("GET", "/api/v1/me/code", login.Token, nil), 403, fault.CodeIdentityRequired)
	bound := e.bind(t, login.Token, aliceName, "resident_id", aliceNumber).Token
	wantError(t, e.json("GET", "/api/v1/me/code", bound, nil), 403, fault.CodeFaceRequired)

	token, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	got := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", token, nil), 200)
	if got.Colour != models.Green || got.ColourText != "未见异常" || got.MaskedName != "欧阳**" || got.MaskedDoc != "11**************2X" || got.Kind != "personal" {
		t.Errorf("code = %+v", got)
	}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return v
	}
	if d := at(got.ExpiresAt).Sub(at(got.IssuedAt)); d != 60*time.Second {
		t.Errorf("lifetime %v, want 60s", d)
	}
	if want := time.Date(2026, 11, 24, 0, 0, 0, 0, e.api.loc); !at(got.ValidUntil).Equal(want) {
		t.Errorf("valid_until = %s, want the next 24:00", got.ValidUntil)
	}
	if !at(got.ServerTime).Equal(e.clock.Now()) {
		t.Errorf("server_time = %s", got.ServerTime)
	}
	claims, err := codetoken.Parse(got.QR, e.keys.ForIssuer("310000"))
	if err != nil {
		t.Fatal(err)
	}
	sess, _ := e.sessions.Verify(token)
	if claims.Subject != sess.PersonID || claims.Issuer != "310000" || claims.Colour != "green" || claims.MaskedName != "欧阳**" {
		t.Errorf("claims = %+v", claims)
	}
	if strings.Contains(got.QR, aliceNumber) || strings.Contains(e.allOutput(), aliceNumber) {
		t.Error("the document number leaked")
	}
}

func TestJWKSEndpoint(t *testing.T) {
	e := newTestEnv(t)
	rec := e.do("GET", "/.well-known/healthcode-keys", nil)
	got := decode[struct{ Keys []codetoken.JWK }](t, rec, 200)
	if len(got.Keys) != 1 || got.Keys[0].Kid != e.keys.Active().ID || got.Keys[0].Crv != "Ed25519" {
		t.Errorf("JWKS = %+v", got)
	}
	if !strings.Contains(rec.Header().Get("Cache-Control"), "max-age") {
		t.Error("JWKS is not cacheable")
	}
}

func TestOperatorAuthentication(t *testing.T) {
	e := newTestEnv(t)
	for _, h := range []string{"", "Bearer " + testOperatorKey, "Operator wrong-key", "Operator "} {
		rec := e.do("POST", "/api/v1/admin/verifiers", strings.NewReader(`{}`), "Content-Type", "application/json", "Authorization", h)
		wantError(t, rec, 401, "operator_required")
	}
	if strings.Contains(e.allOutput(), testOperatorKey) {
		t.Error("an operator key reached a response or a log line")
	}
}

func TestStatusImportEndpoint(t *testing.T) { onEveryDriver(t, testStatusImportEndpoint) }

func testStatusImportEndpoint(t *testing.T, driver func(*testSetup)) {
	e := newTestEnv(t, driver)
	token, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)

	job := e.importListDone(t, "cdc", "doc_type,doc_number,colour,reason\nresident_id,"+aliceNumber+",red,密接\n")
	if job.State != models.ImportDone || job.RowsRead != 1 || job.RowsApplied != 1 || job.Source != "cdc" || job.FinishedAt == "" {
		t.Fatalf("import = %+v", job)
	}
	if got := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", token, nil), 200); got.Colour != models.Red || got.ColourText != "集中观察" {
		t.Errorf("after the import: %s %s", got.Colour, got.ColourText)
	}

	// A file with a bad row is refused with the file's line numbers (a
	// quoted newline does not shift them); red stays.
	job = e.importListDone(t, "cdc", "resident_id,"+aliceNumber+",green,\"多行\n原因\"\nresident_id,110105194912310021,green,\npassport,E1,blue,\n")
	if job.State != models.ImportRejected || job.BadRows != 2 || len(job.Errors) != 2 || job.Errors[0].Row != 3 || job.Errors[1].Row != 4 {
		t.Errorf("rejected import = %+v", job)
	}
	if got := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", token, nil), 200); got.Colour != models.Red {
		t.Errorf("a refused import changed the colour to %s", got.Colour)
	}

	// A source can be emptied, audited.
	var clear bytes.Buffer
	w := multipart.NewWriter(&clear)
	w.WriteField("source", "cdc")
	w.WriteField("clear", "true")
	w.Close()
	rec := e.do("POST", "/api/v1/admin/status-imports", &clear, "Content-Type", w.FormDataContentType(), "Authorization", "Operator "+testOperatorKey)
	cleared := decode[importResponse](t, rec, 202).Import
	for range 200 {
		if cleared = decode[importResponse](t, e.do("GET", "/api/v1/admin/imports/"+cleared.ID, nil, "Authorization", "Operator "+testOperatorKey), 200).Import; cleared.State == models.ImportDone {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.store.RefreshStatus(t.Context(), e.status)
	if got := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", token, nil), 200); cleared.State != models.ImportDone || got.Colour != models.Green {
		t.Errorf("after clearing: %+v, colour %s", cleared, got.Colour)
	}
	wantError(t, e.do("GET", "/api/v1/admin/imports/nope", nil, "Authorization", "Operator "+testOperatorKey), 404, "import_not_found")

	wantError(t, e.importList("rumours", "resident_id,"+aliceNumber+",red,\n"), 400, "invalid_source")
	audit, _ := e.store.AuditEntries(t.Context(), "status.import", "")
	clears, _ := e.store.AuditEntries(t.Context(), "status.clear", "")
	if len(audit) != 1 || !strings.HasPrefix(audit[0].Actor, "operator:") || len(clears) != 1 {
		t.Errorf("audit = %+v, clears %+v", audit, clears)
	}
}

type verifyBody struct {
	Result     string `json:"result"`
	Reason     string `json:"reason"`
	Colour     string `json:"colour"`
	ColourText string `json:"colour_text"`
	MaskedName string `json:"masked_name"`
	MaskedDoc  string `json:"masked_doc"`
	Kind       string `json:"kind"`
	CheckedAt  string `json:"checked_at"`
	ReasonText string `json:"reason_text"`
	Place      string `json:"place"`
	ScansToday *int   `json:"scans_today"`
}

func TestVerify(t *testing.T) { onEveryDriver(t, testVerify) }

func testVerify(t *testing.T, driver func(*testSetup)) {
	e := newTestEnv(t, driver)
	holder, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	code := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", holder, nil), 200)

	// Only verifiers may verify.
	wantError(t, e.json("POST", "/api/v1/verify", holder, map[string]string{"qr": code.QR}), 403, fault.CodeNotVerifier)
	staff := e.makeVerifier(t, "staff", "王小明", staffNumber)
	staffSess, _ := e.sessions.Verify(staff)

	check := func(qr string) verifyBody {
		t.Helper()
		return decode[verifyBody](t, e.json("POST", "/api/v1/verify", staff, map[string]string{"qr": qr}), 200)
	}
	got := check(code.QR)
	if got.Result != "valid" || got.Colour != "green" || got.MaskedName != "欧阳**" || got.MaskedDoc != "11**************2X" || got.Kind != "personal" {
		t.Errorf("valid code = %+v", got)
	}

	// The colour changes after the code was issued: the verifier sees the new one.
	if job := e.importListDone(t, "community", "resident_id,"+aliceNumber+",yellow,居家观察\n"); job.State != models.ImportDone {
		t.Fatal(job)
	}
	if got := check(code.QR); got.Result != "valid" || got.Colour != "yellow" || got.ColourText != "居家观察" {
		t.Errorf("after a new list: %+v, want the current colour yellow", got)
	}

	// Tampered, foreign-key, wrong-issuer and garbage codes: invalid, no holder data.
	raw, _ := codetoken.DecodeBase45(strings.TrimPrefix(code.QR, codetoken.Prefix))
	raw[len(raw)-5] ^= 0x40
	otherKey := codetoken.GenerateKey(e.clock.Now())
	foreign, _ := codetoken.Sign(otherKey, codetoken.Claims{Issuer: "310000", Subject: "x", IssuedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Minute), Kind: "personal"})
	otherRegion, _ := codetoken.Sign(e.keys.Active(), codetoken.Claims{Issuer: "440100", Subject: "x", IssuedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Minute), Kind: "personal"})
	for name, c := range map[string]struct{ qr, reason string }{
		"tampered":     {codetoken.Prefix + codetoken.EncodeBase45(raw), "bad_signature"},
		"unknown kid":  {foreign, "unknown_key"},
		"wrong issuer": {otherRegion, "wrong_issuer"},
		"garbage":      {"HC1JKM:not a code", "malformed"},
		"a URL":        {"https://fake-health-code.example/green.png", "malformed"},
	} {
		got := check(c.qr)
		if got.Result != "invalid" || got.Reason != c.reason || got.MaskedName != "" || got.Colour != "" {
			t.Errorf("%s: %+v, want invalid/%s without holder data", name, got, c.reason)
		}
	}

	// A screenshot: within the 5 s skew it still passes, after it, expired.
	e.clock.Advance(64 * time.Second)
	if got := check(code.QR); got.Result != "valid" {
		t.Errorf("within the skew: %+v", got)
	}
	e.clock.Advance(2 * time.Second)
	if got := check(code.QR); got.Result != "expired" || got.MaskedName != "" {
		t.Errorf("screenshot: %+v, want expired without holder data", got)
	}

	recs, _ := e.store.VerificationsBy(t.Context(), staffSess.AccountID)
	if len(recs) != 9 {
		t.Fatalf("%d verification records, want 9", len(recs))
	}
	first := recs[0]
	if first.Result != "valid" || first.Colour != models.Green || first.Place != "人民广场地铁站" || first.HolderHandle == "" || len(first.CodeID) != 24 {
		t.Errorf("record = %+v", first)
	}
	if _, err := hex.DecodeString(first.CodeID); err != nil {
		t.Errorf("code id %q", first.CodeID)
	}
	if metrics := e.do("GET", "/metrics", nil).Body.String(); !strings.Contains(metrics, `healthcode_group_commit_rows_total{writer="verifications"} 9`+"\n") {
		t.Errorf("metrics do not count the 9 committed rows:\n%s", metrics)
	}

	// Revoked verifiers are refused.
	rec := e.do("DELETE", "/api/v1/admin/verifiers/"+staffSess.AccountID, nil, "Authorization", "Operator "+testOperatorKey)
	if rec.Code != 200 {
		t.Fatalf("revoke = %d %s", rec.Code, rec.Body)
	}
	wantError(t, e.json("POST", "/api/v1/verify", staff, map[string]string{"qr": code.QR}), 403, fault.CodeNotVerifier)
	for _, action := range []string{"verifier.grant", "verifier.revoke"} {
		if audit, _ := e.store.AuditEntries(t.Context(), action, staffSess.AccountID); len(audit) != 1 {
			t.Errorf("%d %s audit entries", len(audit), action)
		}
	}
}

func TestPageTickets(t *testing.T) {
	e := newTestEnv(t)
	token, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	ticket := decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", token, nil), 201)
	if !strings.HasPrefix(ticket.URL, "/h5/code?ticket=") {
		t.Fatalf("ticket = %+v", ticket)
	}
	rec := e.do("GET", ticket.URL, nil)
	if rec.Code != 303 || rec.Header().Get("Location") != "/h5/code" {
		t.Fatalf("redeem = %d %v", rec.Code, rec.Header())
	}
	cookie := rec.Result().Cookies()[0]
	if cookie.Name != pageCookie || !cookie.HttpOnly || cookie.SameSite != 3 || cookie.Path != "/h5" {
		t.Errorf("cookie = %+v", cookie)
	}
	// A lifetime the browser counts on its own clock, never a date from ours.
	if setCookie := rec.Header().Get("Set-Cookie"); strings.Contains(setCookie, "Expires=") ||
		!strings.Contains(setCookie, fmt.Sprintf("Max-Age=%d", int(pageSessionTTL/time.Second))) {
		t.Errorf("Set-Cookie = %s, want Max-Age and no Expires", setCookie)
	}
	// One time only.
	if again := e.do("GET", ticket.URL, nil); again.Code != 401 || len(again.Result().Cookies()) != 0 {
		t.Errorf("a used ticket worked again: %d", again.Code)
	}
	data := decode[pageCodeResponse](t, e.do("GET", "/h5/api/code", nil, "Cookie", pageCookie+"="+cookie.Value), 200)
	if !strings.HasPrefix(data.QRSVG, "<svg") || data.MaskedName != "欧阳**" || data.TimeZone != "Asia/Shanghai" {
		t.Errorf("page data = %+v", data.codeResponse)
	}
	// The page cookie is no bearer token, and a bearer token is no cookie.
	wantError(t, e.json("GET", "/api/v1/me", cookie.Value, nil), 401, "unauthorized")
	wantError(t, e.do("GET", "/h5/api/code", nil, "Cookie", pageCookie+"="+token), 401, "unauthorized")

	// A ticket older than a minute has expired.
	late := decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", token, nil), 201)
	e.clock.Advance(61 * time.Second)
	if rec := e.do("GET", late.URL, nil); rec.Code != 401 {
		t.Errorf("an expired ticket = %d", rec.Code)
	}
	if strings.Contains(e.logs.String(), strings.TrimPrefix(ticket.URL, "/h5/code?ticket=")) {
		t.Error("a ticket reached the log")
	}
}

// A code is handed out again for a few seconds, never past a quarter of its
// life, and never once the colour changed.
func TestCodeReuse(t *testing.T) {
	e := newTestEnv(t)
	token, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	show := func() codeResponse { return decode[codeResponse](t, e.json("GET", "/api/v1/me/code", token, nil), 200) }
	first := show()
	e.clock.Advance(4 * time.Second)
	again := show()
	if again.QR != first.QR || again.ExpiresAt != first.ExpiresAt || again.ServerTime == first.ServerTime {
		t.Errorf("within the reuse window: a new code or a stale server time: %+v", again)
	}
	e.clock.Advance(time.Second)
	if fresh := show(); fresh.QR == first.QR {
		t.Error("the code was reused past the window")
	}
	before := show()
	e.importListDone(t, "cdc", "resident_id,"+aliceNumber+",red,\n")
	after := show()
	if after.QR == before.QR || after.Colour != "red" {
		t.Errorf("after a colour change: %s, same code %v", after.Colour, after.QR == before.QR)
	}
	if claims, err := codetoken.Parse(after.QR, e.keys.ForIssuer("310000")); err != nil || claims.Colour != "red" {
		t.Errorf("new code claims %+v, %v", claims, err)
	}
}

// Codes minted with our own key but a lifetime no kind allows, or with a
// key after its retirement, are invalid; codes a retired key signed before
// its retirement still verify until they expire.
func TestVerifyRefusesMintedLifetimesAndRetiredKeys(t *testing.T) {
	e := newTestEnv(t)
	holder, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	before := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", holder, nil), 200)
	staff := e.makeVerifier(t, "staff", "王小明", staffNumber)
	check := func(qr string) verifyBody {
		t.Helper()
		return decode[verifyBody](t, e.json("POST", "/api/v1/verify", staff, map[string]string{"qr": qr}), 200)
	}
	sess, _ := e.sessions.Verify(holder)
	now := e.clock.Now()
	claims := codetoken.Claims{Issuer: "310000", Subject: sess.PersonID, IssuedAt: now, ExpiresAt: now.AddDate(1, 0, 0),
		Kind: codetoken.KindPersonal, Colour: "green", MaskedName: "欧阳**", MaskedDoc: "11**************2X"}
	yearLong, _ := codetoken.Sign(e.keys.Active(), claims)
	if got := check(yearLong); got.Result != "invalid" || got.Reason != "lifetime" || got.MaskedName != "" {
		t.Errorf("a year-long code = %+v, want invalid/lifetime", got)
	}

	// Rotate: the old key retires now and stays published, marked.
	old := e.keys.Active()
	old.RetiredAt = now
	if err := e.keys.Replace([]*codetoken.Key{old, codetoken.GenerateKey(now)}); err != nil {
		t.Fatal(err)
	}
	if got := check(before.QR); got.Result != "valid" {
		t.Errorf("a code signed before the retirement = %+v, want valid", got)
	}
	e.clock.Advance(10 * time.Second)
	claims.IssuedAt, claims.ExpiresAt = e.clock.Now(), e.clock.Now().Add(time.Minute)
	afterRetirement, _ := codetoken.Sign(old, claims)
	if got := check(afterRetirement); got.Result != "invalid" || got.Reason != "retired_key" {
		t.Errorf("a code signed after the retirement = %+v, want invalid/retired_key", got)
	}
	jwks := decode[struct{ Keys []codetoken.JWK }](t, e.do("GET", "/.well-known/healthcode-keys", nil), 200).Keys
	if len(jwks) != 2 || jwks[0].Kid != old.ID || jwks[0].Exp != now.Add(codetoken.LongestLifetime).Unix() || jwks[1].Exp != 0 {
		t.Errorf("JWKS = %+v, want the retired key marked with exp", jwks)
	}
}

// A token from before person numbers, or a code without one, would read as
// green whoever holds it: the token must be renewed and the code is
// invalid.
func TestCodesAndTokensWithoutAPersonNumberAreRefused(t *testing.T) {
	e := newTestEnv(t)
	token, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	staff := e.makeVerifier(t, "staff", "王小明", staffNumber)
	e.importListDone(t, "cdc", "resident_id,"+aliceNumber+",red,密接\n")
	sess, _ := e.sessions.Verify(token)
	old := sess
	old.PersonNo = 0
	payload, _ := json.Marshal(old)
	body := "v1." + base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(sha256.New, e.sessKey)
	m.Write([]byte(body))
	wantError(t, e.json("GET", "/api/v1/me/code", body+"."+base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil), 401, fault.CodeSessionExpired)

	now := e.clock.Now()
	unnumbered, _ := codetoken.Sign(e.keys.Active(), codetoken.Claims{Issuer: "310000", Subject: sess.PersonID, IssuedAt: now,
		ExpiresAt: now.Add(time.Minute), Kind: codetoken.KindPersonal, MaskedName: "欧阳**"})
	got := decode[verifyBody](t, e.json("POST", "/api/v1/verify", staff, map[string]string{"qr": unnumbered}), 200)
	if got.Result != "invalid" || got.Colour != "" {
		t.Errorf("a code without a person number = %+v, want invalid", got)
	}
	if code := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", token, nil), 200); code.Colour != models.Red {
		t.Errorf("the current token's code is %s, want red", code.Colour)
	}
}

// TestPagesShareOneBridge: every page loads the mini-program bridge from
// /h5/assets/bridge.js and carries no copy of its own; the script is served
// as JavaScript under the pages' CSP, revalidated by its ETag.
func TestPagesShareOneBridge(t *testing.T) {
	e := newTestEnv(t)
	for _, name := range []string{"code.html", "verify.html", "expired.html", "nucleic.html"} {
		body, err := pageFS.ReadFile("pages/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(body, []byte(`<script src="/h5/assets/bridge.js"></script>`)) || bytes.Contains(body, []byte("jweixin")) {
			t.Errorf("%s does not use the shared bridge alone", name)
		}
	}
	rec := e.do("GET", "/h5/assets/bridge.js", nil)
	etag := rec.Header().Get("ETag")
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") || rec.Header().Get("Content-Security-Policy") != pageCSP ||
		rec.Header().Get("Cache-Control") != "no-cache" || rec.Header().Get("X-Content-Type-Options") != "nosniff" || etag == "" ||
		!strings.Contains(rec.Body.String(), "jweixin-1.6.0.js") {
		t.Fatalf("bridge.js = %d %v", rec.Code, rec.Header())
	}
	if again := e.do("GET", "/h5/assets/bridge.js", nil, "If-None-Match", etag); again.Code != 304 || again.Body.Len() != 0 {
		t.Errorf("revalidation = %d, %d bytes", again.Code, again.Body.Len())
	}
	wantError(t, e.do("GET", "/h5/assets/nope.js", nil), 404, "not_found")
}

// TestPagesShareOnePageKit: the code, 核酸码 and check-in pages load elder
// mode, the clock and the fetch with its retries from /h5/assets/pagekit.js
// and keep no copy of the retry handling.
func TestPagesShareOnePageKit(t *testing.T) {
	e := newTestEnv(t)
	for _, name := range []string{"code.html", "nucleic.html", "checkin.html"} {
		body, err := pageFS.ReadFile("pages/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(body, []byte(`<script src="/h5/assets/pagekit.js"></script>`)) || bytes.Contains(body, []byte("Retry-After")) {
			t.Errorf("%s does not use the shared page kit alone", name)
		}
	}
	rec := e.do("GET", "/h5/assets/pagekit.js", nil)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") || !strings.Contains(rec.Body.String(), "Retry-After") {
		t.Errorf("pagekit.js = %d %v", rec.Code, rec.Header())
	}
}
