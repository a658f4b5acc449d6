package handlers

import (
	"strings"
	"testing"

	"healthcode/models"
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
	e := newTestEnv(t, driver)
	login := e.sandboxLogin(t, "alice")

	for _, c := range []struct {
		name, docType, number, code string
	}{
		{aliceName, "resident_id", "110105194912310021", models.CodeDocCheckDigit},
		{aliceName, "resident_id", "110105194902300021", models.CodeDocBirthDate},
		{aliceName, "resident_id", "1101051949123100", models.CodeDocLength},
		{aliceName, "resident_id", "99010519491231002X", models.CodeDocRegion},
		{aliceName, "driving_licence", "123456", models.CodeDocType},
		{"欧阳3", "resident_id", aliceNumber, models.CodeNameInvalid},
	} {
		rec := e.json("POST", "/api/v1/identity", login.Token, map[string]string{"name": c.name, "doc_type": c.docType, "doc_number": c.number})
		wantError(t, rec, 400, c.code)
	}
	if me := decode[meResponse](t, e.json("GET", "/api/v1/me", login.Token, nil), 200); me.Account.IdentityBound {
		t.Fatal("a refused identity was bound")
	}

	got := e.bind(t, login.Token, aliceName, "resident_id", strings.ToLower(aliceNumber))
	want := identityView{DocType: "resident_id", MaskedName: "欧阳**", MaskedDoc: "11**************2X", Status: "bound"}
	if got.Identity != want || !got.Account.IdentityBound || got.Token == "" || got.Token == login.Token {
		t.Errorf("bind = %+v, want identity %+v, bound, and a fresh token", got, want)
	}
	me := decode[meResponse](t, e.json("GET", "/api/v1/me", got.Token, nil), 200)
	if me.Identity == nil || *me.Identity != want {
		t.Errorf("me.identity = %+v", me.Identity)
	}

	// Binding the same identity again is harmless; another one is refused.
	e.bind(t, got.Token, aliceName, "resident_id", aliceNumber)
	other := "110105200001010" + "01"
	other += string(models.CheckDigit(other))
	wantError(t, e.json("POST", "/api/v1/identity", got.Token,
		map[string]string{"name": "李四", "doc_type": "resident_id", "doc_number": other}), 409, models.CodeIdentityAlreadyBound)

	// The name must match the document on record, without saying which is wrong.
	bob := e.sandboxLogin(t, "bob")
	rec := e.json("POST", "/api/v1/identity", bob.Token, map[string]string{"name": "王五", "doc_type": "resident_id", "doc_number": aliceNumber})
	wantError(t, rec, 400, models.CodeNameMismatch)

	audit, _ := e.store.AuditEntries(t.Context(), "identity.bind", "")
	if len(audit) != 1 || audit[0].Actor != "account:"+login.Account.ID {
		t.Errorf("audit = %+v, want one identity.bind by alice", audit)
	}
	if out := e.allOutput(); strings.Contains(out, aliceNumber) || strings.Contains(out, strings.ToLower(aliceNumber)) || strings.Contains(out, aliceName) {
		t.Error("the full document number or name reached a response or a log line")
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
	wantError(t, e.json("POST", "/api/v1/identity", bob.Token, map[string]string{"name": ""}), 400, models.CodeNameInvalid)
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
