package handlers

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"healthcode/models"
	"healthcode/models/fault"
)

// TestSandboxEndpointsWalkTheFlows uses the development-only endpoints as the
// dev page does: the caller becomes a verifier, a demo household approves a
// relative at once, and a status list naming sandbox users changes colours.
func TestSandboxEndpointsWalkTheFlows(t *testing.T) {
	onEveryDriver(t, testSandboxEndpointsWalkTheFlows)
}

func testSandboxEndpointsWalkTheFlows(t *testing.T, driver func(*testSetup)) {
	e := newTestEnv(t, driver)
	alice, aliceID := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	bob, _ := e.verifiedUser(t, "bob", "王小明", bobNumber)
	code := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", bob, nil), 200)

	// Not yet a verifier; then one, at the default place or a chosen one.
	wantError(t, e.json("POST", "/api/v1/verify", alice, map[string]string{"qr": code.QR}), 403, fault.CodeNotVerifier)
	got := decode[verifierResponse](t, e.json("POST", "/api/v1/sandbox/verifier", alice, nil), 201)
	if got.AccountID != aliceID || got.Place != "开发沙箱核验点" {
		t.Errorf("sandbox verifier = %+v", got)
	}
	got = decode[verifierResponse](t, e.json("POST", "/api/v1/sandbox/verifier", alice, map[string]string{"place": "测试小区东门"}), 201)
	if got.Place != "测试小区东门" {
		t.Errorf("place %q", got.Place)
	}
	v := decode[verifyBody](t, e.json("POST", "/api/v1/verify", alice, map[string]string{"qr": code.QR}), 200)
	if v.Result != "valid" || v.Place != "测试小区东门" || v.ScansToday == nil || *v.ScansToday != 1 {
		t.Errorf("verify after the sandbox grant = %+v", v)
	}
	if audit, _ := e.store.AuditEntries(t.Context(), "verifier.grant", aliceID); len(audit) != 2 || audit[0].Actor != "sandbox:"+aliceID {
		t.Errorf("grant audit = %+v", audit)
	}

	// A demo household approves a relative by household evidence.
	wantError(t, e.json("POST", "/api/v1/sandbox/household", alice, map[string]string{"doc_type": "resident_id", "doc_number": "123"}), 400, fault.CodeDocLength)
	decode[sandboxHouseholdResponse](t, e.json("POST", "/api/v1/sandbox/household", alice, map[string]string{"doc_type": "resident_id", "doc_number": sonNumber}), 201)
	son := decode[relativeView](t, e.addRelative(alice, "欧阳小明", "resident_id", sonNumber, "child"), 201)
	if son.Status != models.LinkApproved || son.Evidence != models.EvidenceHousehold {
		t.Errorf("relative after the demo household = %+v", son)
	}
	fresh := e.sandboxLogin(t, "carol").Token
	wantError(t, e.json("POST", "/api/v1/sandbox/household", fresh, map[string]string{"doc_type": "resident_id", "doc_number": sonNumber}), 403, fault.CodeIdentityRequired)

	// A status list by sandbox user: bob turns red, then the list is emptied.
	wantError(t, e.json("POST", "/api/v1/sandbox/status-list", alice, map[string]any{"rows": []map[string]string{{"user": "nobody", "colour": "red"}}}), 404, "sandbox_user_not_found")
	wantError(t, e.json("POST", "/api/v1/sandbox/status-list", alice, map[string]any{"rows": []map[string]string{{"user": "carol", "colour": "red"}}}), 409, "sandbox_user_unbound")
	wantError(t, e.json("POST", "/api/v1/sandbox/status-list", alice, map[string]any{"rows": []map[string]string{{"user": "bob", "colour": "blue"}}}), 400, "colour")
	wantError(t, e.json("POST", "/api/v1/sandbox/status-list", alice, map[string]any{"source": "rumours", "rows": []map[string]string{}}), 400, "invalid_source")
	imp := decode[importResponse](t, e.json("POST", "/api/v1/sandbox/status-list", alice, map[string]any{
		"source": "cdc", "rows": []map[string]string{{"user": "bob", "colour": "red", "reason": "密接"}}}), 201)
	if imp.Import.Source != "cdc" || imp.Import.State != models.ImportDone || imp.Import.RowsApplied != 1 {
		t.Errorf("import = %+v", imp)
	}
	if got := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", bob, nil), 200); got.Colour != models.Red {
		t.Errorf("bob is %s after the sandbox list", got.Colour)
	}
	decode[importResponse](t, e.json("POST", "/api/v1/sandbox/status-list", alice, map[string]any{"source": "cdc", "rows": []map[string]string{}}), 201)
	if got := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", bob, nil), 200); got.Colour != models.Green {
		t.Errorf("bob is %s after the list was emptied", got.Colour)
	}
	imports, _ := e.store.AuditEntries(t.Context(), "status.import", "")
	clears, _ := e.store.AuditEntries(t.Context(), "status.clear", "")
	if len(imports) != 1 || imports[0].Actor != "sandbox:"+aliceID || len(clears) != 1 || clears[0].Actor != "sandbox:"+aliceID {
		t.Errorf("import audit = %+v, clear audit = %+v", imports, clears)
	}
	if out := e.allOutput(); strings.Contains(out, bobNumber) || strings.Contains(out, aliceNumber) || strings.Contains(out, sonNumber) {
		t.Error("a document number reached a response or a log line")
	}
	// Every sandbox endpoint needs a session.
	for _, path := range []string{"/api/v1/sandbox/verifier", "/api/v1/sandbox/status-list", "/api/v1/sandbox/household"} {
		wantError(t, e.json("POST", path, "", map[string]string{}), 401, "unauthorized")
	}
}

// TestSandboxEndpointsAbsentInProduction: with the sandbox off (as
// production always has it) none of the development endpoints exists.
func TestSandboxEndpointsAbsentInProduction(t *testing.T) {
	for name, change := range map[string]func(*testSetup){
		"production": func(s *testSetup) { s.cfg.Mode = "production"; delete(s.platforms, models.PlatformSandbox) },
		"off":        func(s *testSetup) { s.cfg.Sandbox = "false"; delete(s.platforms, models.PlatformSandbox) },
	} {
		t.Run(name, func(t *testing.T) {
			e := newTestEnv(t, change)
			token, _ := e.sessions.Issue(&models.Account{ID: "acct0000000000000000000000000001", Platform: "wechat", SessionVersion: 1}, nil)
			for _, path := range []string{"/api/v1/sandbox/verifier", "/api/v1/sandbox/status-list", "/api/v1/sandbox/household",
				"/api/v1/sandbox/face/x", "/api/v1/auth/sandbox"} {
				wantError(t, e.json("POST", path, token, map[string]string{}), 404, "not_found")
			}
			wantError(t, e.do("GET", "/dev", nil), 404, "not_found")
		})
	}
}

// TestVerifyAnswersPlaceCountAndReasonText: every scan answer names the
// verifier's place and counts their scans today (on this node, starting
// again at 24:00), and a code that fails says why in words.
func TestVerifyAnswersPlaceCountAndReasonText(t *testing.T) {
	e := newTestEnv(t)
	holder, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	code := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", holder, nil), 200)
	staff := e.makeVerifier(t, "staff", "王小明", staffNumber)
	other := e.makeVerifier(t, "staff2", "李梅", motherNumber)
	scan := func(token, qr string) verifyBody {
		t.Helper()
		return decode[verifyBody](t, e.json("POST", "/api/v1/verify", token, map[string]string{"qr": qr}), 200)
	}
	for i := 1; i <= 3; i++ {
		v := scan(staff, code.QR)
		if v.Place != "人民广场地铁站" || v.ScansToday == nil || *v.ScansToday != i || v.ReasonText != "" {
			t.Errorf("scan %d = %+v", i, v)
		}
	}
	bad := scan(staff, "HC1JKM:garbage")
	if bad.Result != "invalid" || bad.Reason != "malformed" || bad.ReasonText != "非本系统二维码" || *bad.ScansToday != 4 {
		t.Errorf("garbage = %+v", bad)
	}
	if v := scan(other, code.QR); *v.ScansToday != 1 {
		t.Errorf("another verifier's count = %d", *v.ScansToday)
	}
	// 24:00 in Shanghai starts a new count (the clock is at noon).
	e.clock.Advance(12 * time.Hour)
	code = decode[codeResponse](t, e.json("GET", "/api/v1/me/code", e.passFace(t, holder), nil), 200)
	if v := scan(staff, code.QR); v.Result != "valid" || *v.ScansToday != 1 {
		t.Errorf("first scan of the new day = %+v", v)
	}
}

func TestScanCounterIsBounded(t *testing.T) {
	c := newScanCounter(time.UTC)
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for i := range maxCountedVerifiers {
		c.add(strconv.Itoa(i), at)
	}
	if n, ok := c.add("0", at); !ok || n != 2 {
		t.Errorf("a counted verifier = %d %v", n, ok)
	}
	if _, ok := c.add("newcomer", at); ok {
		t.Error("the full counter took another verifier")
	}
	if _, ok := c.get("newcomer", at); ok {
		t.Error("the full counter reports a count for a verifier it does not hold")
	}
	if len(c.counts) != maxCountedVerifiers {
		t.Errorf("%d verifiers held", len(c.counts))
	}
	if n, ok := c.add("newcomer", at.Add(14*time.Hour)); !ok || n != 1 || len(c.counts) != 1 {
		t.Errorf("the next day: %d %v, %d held", n, ok, len(c.counts))
	}
}
