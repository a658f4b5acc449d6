package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"healthcode/models/document"
	"healthcode/models/fault"
)

const (
	aliceName   = "欧阳娜娜"
	aliceNumber = "11010519491231002X"
)

type identityBody struct {
	Identity  identityView `json:"identity"`
	Token     string       `json:"token"`
	ExpiresAt string       `json:"expires_at"`
	Account   accountView  `json:"account"`
}

// bind posts an identity and returns the decoded answer.
func (e *testEnv) bind(t testing.TB, token, name, docType, number string) identityBody {
	t.Helper()
	return decode[identityBody](t, e.json("POST", "/api/v1/identity", token,
		map[string]string{"name": name, "doc_type": docType, "doc_number": number}), 200)
}

func TestBindIdentity(t *testing.T) { onEveryDriver(t, testBindIdentity) }

func testBindIdentity(t *testing.T, driver func(*testSetup)) {
	e := newTestEnv(t, driver, func(s *testSetup) { s.cfg.RateLimit.IdentityPerMinuteUser = 100 })
	login := e.sandboxLogin(t, "alice")

	for _, c := range []struct {
		name, docType, number, code string
	}{
		{aliceName, "resident_id", "110105194912310021", fault.CodeDocCheckDigit},
		{aliceName, "resident_id", "110105194902300021", fault.CodeDocBirthDate},
		{aliceName, "resident_id", "1101051949123100", fault.CodeDocLength},
		{aliceName, "resident_id", "99010519491231002X", fault.CodeDocRegion},
		{aliceName, "driving_licence", "123456", fault.CodeDocType},
		{"欧阳3", "resident_id", aliceNumber, fault.CodeNameInvalid},
	} {
		rec := e.json("POST", "/api/v1/identity", login.Token, map[string]string{"name": c.name, "doc_type": c.docType, "doc_number": c.number})
		wantError(t, rec, 400, c.code)
	}
	if me := decode[meResponse](t, e.json("GET", "/api/v1/me", login.Token, nil), 200); me.Account.IdentityBound {
		t.Fatal("a refused identity was bound")
	}

	// A claim binds nothing: pending until a face check for it passes.
	got := e.bind(t, login.Token, aliceName, "resident_id", strings.ToLower(aliceNumber))
	want := identityView{DocType: "resident_id", MaskedName: "欧阳**", MaskedDoc: "11**************2X", Status: "pending_face_verification"}
	if got.Identity != want || got.Account.IdentityBound || !got.Account.IdentityPending || got.Token == "" {
		t.Errorf("claim = %+v, want identity %+v, not bound, pending", got, want)
	}
	if me := decode[meResponse](t, e.json("GET", "/api/v1/me", got.Token, nil), 200); me.Identity == nil || *me.Identity != want {
		t.Errorf("me.identity = %+v", me.Identity)
	}
	wantError(t, e.json("GET", "/api/v1/me/code", got.Token, nil), 403, fault.CodeFaceRequired)

	token := e.passFace(t, got.Token)
	want.Status = "bound"
	me := decode[meResponse](t, e.json("GET", "/api/v1/me", token, nil), 200)
	if me.Identity == nil || *me.Identity != want || !me.Account.IdentityBound || me.Account.IdentityPending {
		t.Errorf("after the face check: me = %+v %+v", me.Account, me.Identity)
	}

	// Claiming the bound identity again is harmless; another one is refused.
	if again := e.bind(t, token, aliceName, "resident_id", aliceNumber); again.Identity != want {
		t.Errorf("claiming the bound identity again = %+v", again.Identity)
	}
	other := "110105200001010" + "01"
	other += string(document.CheckDigit(other))
	wantError(t, e.json("POST", "/api/v1/identity", token,
		map[string]string{"name": "李四", "doc_type": "resident_id", "doc_number": other}), 409, fault.CodeIdentityAlreadyBound)

	claims, _ := e.store.AuditEntries(t.Context(), "identity.claim", "")
	binds, _ := e.store.AuditEntries(t.Context(), "identity.bind", "")
	if len(claims) != 1 || len(binds) != 1 || binds[0].Actor != "account:"+login.Account.ID {
		t.Errorf("audit: claims %+v, binds %+v; want one of each by alice", claims, binds)
	}
	if out := e.allOutput(); strings.Contains(out, aliceNumber) || strings.Contains(out, strings.ToLower(aliceNumber)) || strings.Contains(out, aliceName) {
		t.Error("the full document number or name reached a response or a log line")
	}
}

// passFace passes the sandbox face check for the account's current
// identity and returns the fresh token.
func (e *testEnv) passFace(t testing.TB, token string) string {
	t.Helper()
	start := e.startFace(t, token)
	e.json("POST", "/api/v1/sandbox/face/"+start.VerifyID, "", map[string]string{"outcome": "pass"})
	got := e.callback(t, token, start.VerifyID)
	if got.Status != "passed" {
		t.Fatalf("face check: %+v", got)
	}
	return got.Token
}

// failFace fails the sandbox face check for the account's current identity.
func (e *testEnv) failFace(t testing.TB, token string) {
	t.Helper()
	start := e.startFace(t, token)
	e.json("POST", "/api/v1/sandbox/face/"+start.VerifyID, "", map[string]string{"outcome": "fail"})
	if got := e.callback(t, token, start.VerifyID); got.Status != "failed" {
		t.Fatalf("face check: %+v, want failed", got)
	}
}

// A stranger who claims a document first takes nothing from its owner: the
// claim binds nothing, tells nothing, and renames no one.
func TestClaimsCannotSquatAnIdentity(t *testing.T) { onEveryDriver(t, testClaimsCannotSquatAnIdentity) }

func testClaimsCannotSquatAnIdentity(t *testing.T, driver func(*testSetup)) {
	e, alice := familyEnv(t, driver)
	mother := decode[relativeView](t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 201)
	if mother.Status != "approved" || mother.MaskedName != "李*" {
		t.Fatalf("mother = %+v", mother)
	}

	// A stranger claims the elder's document under another name, and the
	// face check (of the stranger's face) fails.
	stranger := e.sandboxLogin(t, "stranger")
	claim := e.bind(t, stranger.Token, "王芳", "resident_id", motherNumber)
	if claim.Identity.Status != "pending_face_verification" || claim.Account.IdentityBound {
		t.Fatalf("stranger's claim = %+v", claim)
	}
	e.failFace(t, claim.Token)
	wantError(t, e.json("GET", "/api/v1/me/code", claim.Token, nil), 403, fault.CodeFaceRequired)
	code := decode[codeResponse](t, e.json("GET", "/api/v1/relatives/"+mother.ID+"/code", alice, nil), 200)
	if code.MaskedName != "李*" {
		t.Errorf("the elder's name on the relative's code became %q", code.MaskedName)
	}
	var names []string
	e.db.Table("persons").Pluck("masked_name", &names)
	if slices.Contains(names, "王*") {
		t.Errorf("a claim renamed a person: %v", names)
	}

	// The owner still binds her own document, pending claims or not.
	mom := e.sandboxLogin(t, "mom")
	momToken := e.passFace(t, e.bind(t, mom.Token, "李梅", "resident_id", motherNumber).Token)
	if code := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", momToken, nil), 200); code.MaskedName != "李*" {
		t.Errorf("the owner's code = %+v", code)
	}

	// No oracle: a claim is answered alike whether the document is bound
	// (with the right name or a wrong one) or never seen.
	unknown := "110105200001010" + "02"
	unknown += string(document.CheckDigit(unknown))
	probe := e.sandboxLogin(t, "probe")
	shape := func(name, number string) string {
		rec := e.json("POST", "/api/v1/identity", probe.Token, map[string]string{"name": name, "doc_type": "resident_id", "doc_number": number})
		var body map[string]any
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
			t.Fatalf("claim = %d %s", rec.Code, rec.Body)
		}
		delete(body, "token")
		delete(body, "expires_at")
		id := body["identity"].(map[string]any)
		delete(id, "masked_name")
		delete(id, "masked_doc")
		out, _ := json.Marshal(body)
		return string(out)
	}
	bound, wrongName, never := shape("李梅", motherNumber), shape("王芳", motherNumber), shape("赵六", unknown)
	if bound != wrongName || bound != never {
		t.Errorf("claims answered differently:\n bound %s\n wrong name %s\n unknown %s", bound, wrongName, never)
	}
}

// A passed face check for a document bound elsewhere moves the binding: the
// owner changed phone. The old account loses the identity and its
// sessions; the relative links go with the person.
func TestFacePassMovesABinding(t *testing.T) { onEveryDriver(t, testFacePassMovesABinding) }

func testFacePassMovesABinding(t *testing.T, driver func(*testSetup)) {
	e, oldToken := familyEnv(t, driver)
	mother := decode[relativeView](t, e.addRelative(oldToken, "李梅", "resident_id", motherNumber, "parent"), 201)
	oldSession, _ := e.sessions.Verify(oldToken)

	newPhone := e.sandboxLogin(t, "alice-new-phone")
	newToken := e.passFace(t, e.bind(t, newPhone.Token, aliceName, "resident_id", aliceNumber).Token)
	if code := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", newToken, nil), 200); code.MaskedName != "欧阳**" {
		t.Errorf("new account's code = %+v", code)
	}
	// Every node learns of the old sessions' end from the revocations it polls.
	if err := e.store.RefreshRevocations(t.Context(), e.sessions.Revoked, time.Hour); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.json("GET", "/api/v1/me/code", oldToken, nil), 401, fault.CodeSessionRevoked)
	relogin := e.sandboxLogin(t, "alice")
	if relogin.Account.IdentityBound || relogin.Account.ID != oldSession.AccountID {
		t.Errorf("the old account after the move = %+v", relogin.Account)
	}
	links := decode[struct{ Relatives []relativeView }](t, e.json("GET", "/api/v1/relatives", newToken, nil), 200).Relatives
	if len(links) != 1 || links[0].ID != mother.ID {
		t.Errorf("the new account's relatives = %+v, want the mother's link", links)
	}
	if moved, _ := e.store.AuditEntries(t.Context(), "identity.move", ""); len(moved) != 1 || !strings.Contains(moved[0].Detail, oldSession.AccountID) {
		t.Errorf("move audit = %+v", moved)
	}
}

// An operator ends a binding with a note; the account loses the identity and
// its sessions.
func TestOperatorUnbindsAnIdentity(t *testing.T) {
	e := newTestEnv(t)
	token, id := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	op := func(path string, body any) *httptest.ResponseRecorder {
		b, _ := json.Marshal(body)
		return e.do("DELETE", path, bytes.NewReader(b), "Authorization", "Operator "+testOperatorKey, "Content-Type", "application/json")
	}
	wantError(t, op("/api/v1/admin/identities/"+id, map[string]string{"note": ""}), 400, "note_required")
	wantError(t, op("/api/v1/admin/identities/"+id, map[string]string{"note": "证件 " + aliceNumber + " 录错"}), 400, "note_has_document")
	wantError(t, op("/api/v1/admin/identities/"+id, map[string]string{"note": "证件 " + strings.ToLower(aliceNumber[:14]+"-"+aliceNumber[14:])}), 400, "note_has_document")
	wantError(t, op("/api/v1/admin/identities/nobody", map[string]string{"note": "录入错误"}), 404, "account_not_found")
	if rec := op("/api/v1/admin/identities/"+id, map[string]string{"note": "证件录入错误"}); rec.Code != 200 {
		t.Fatalf("unbind = %d %s", rec.Code, rec.Body)
	}
	wantError(t, e.json("GET", "/api/v1/me/code", token, nil), 401, fault.CodeSessionRevoked)
	if again := e.sandboxLogin(t, "alice"); again.Account.IdentityBound || again.Account.IdentityPending {
		t.Errorf("after unbinding: %+v", again.Account)
	}
	wantError(t, op("/api/v1/admin/identities/"+id, map[string]string{"note": "再次解除"}), 404, "identity_not_bound")
	audit, _ := e.store.AuditEntries(t.Context(), "identity.unbind", "")
	if len(audit) != 1 || !strings.Contains(audit[0].Detail, "证件录入错误") || !strings.HasPrefix(audit[0].Actor, "operator") {
		t.Errorf("unbind audit = %+v", audit)
	}
}

func TestIdentityEndpointsAreRateLimitedPerAccount(t *testing.T) {
	e := newTestEnv(t, func(s *testSetup) { s.cfg.RateLimit.IdentityPerMinuteUser = 2 })
	alice := e.sandboxLogin(t, "alice")
	bob := e.sandboxLogin(t, "bob")
	for range 2 {
		e.json("POST", "/api/v1/identity", alice.Token, map[string]string{"name": ""})
	}
	rec := e.json("POST", "/api/v1/identity", alice.Token, map[string]string{"name": ""})
	wantError(t, rec, 429, "rate_limited")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Another account from the same address is not held back.
	wantError(t, e.json("POST", "/api/v1/identity", bob.Token, map[string]string{"name": ""}), 400, fault.CodeNameInvalid)
}

func TestBindPhone(t *testing.T) {
	e := newTestEnv(t)
	login := e.sandboxLogin(t, "alice")
	got := decode[map[string]string](t, e.json("POST", "/api/v1/me/phone", login.Token, map[string]string{"code": "13812345678"}), 200)
	if got["masked_phone"] != "138****5678" {
		t.Errorf("phone answer = %v", got)
	}
	me := decode[meResponse](t, e.json("GET", "/api/v1/me", login.Token, nil), 200)
	if me.Account.MaskedPhone != "138****5678" {
		t.Errorf("me = %+v", me.Account)
	}
	wantError(t, e.json("POST", "/api/v1/me/phone", login.Token, map[string]string{"code": "12"}), 400, "phone_failed")
	if strings.Contains(e.allOutput(), "13812345678") {
		t.Error("the full phone number reached a response or a log line")
	}
}

// Two accounts proving the same new document at the same moment both
// succeed, one after the other: one person, bound to one of them.
func TestConcurrentFacePassesOnANewDocument(t *testing.T) {
	onEveryDriver(t, testConcurrentFacePassesOnANewDocument)
}

func testConcurrentFacePassesOnANewDocument(t *testing.T, driver func(*testSetup)) {
	e := newTestEnv(t, driver)
	const n = 8
	tokens, starts := make([]string, n), make([]faceStartBody, n)
	for i := range n {
		tokens[i] = e.bind(t, e.sandboxLogin(t, fmt.Sprintf("phone-%d", i)).Token, aliceName, "resident_id", aliceNumber).Token
		starts[i] = e.startFace(t, tokens[i])
		e.json("POST", "/api/v1/sandbox/face/"+starts[i].VerifyID, "", map[string]string{"outcome": "pass"})
	}
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() {
			codes[i] = e.json("POST", "/api/v1/face/callback", tokens[i], map[string]string{"verify_id": starts[i].VerifyID}).Code
		})
	}
	wg.Wait()
	for i, code := range codes {
		if code != 200 {
			t.Errorf("callback %d = %d\n%s", i, code, e.logs)
		}
	}
	var persons, bound int64
	e.db.Table("persons").Count(&persons)
	e.db.Table("accounts").Where("person_id IS NOT NULL").Count(&bound)
	if persons != 1 || bound != 1 {
		t.Errorf("%d persons, %d bound accounts; want 1 and 1", persons, bound)
	}
}
