package handlers

import (
	"strings"
	"testing"
	"time"

	"healthcode/models/codetoken"
	"healthcode/models/fault"
)

func TestNucleicCodes(t *testing.T) { onEveryDriver(t, testNucleicCodes) }

func testNucleicCodes(t *testing.T, driver func(*testSetup)) {
	e, alice := familyEnv(t, driver)
	login := e.sandboxLogin(t, "carol")
	wantError(t, e.json("GET", "/api/v1/me/nucleic-code", login.Token, nil), 403, fault.CodeIdentityRequired)

	got := decode[nucleicCodeResponse](t, e.json("GET", "/api/v1/me/nucleic-code", alice, nil), 200)
	if got.Kind != "nucleic" || got.MaskedName != "欧阳**" || got.MaskedDoc != "11**************2X" {
		t.Errorf("nucleic code = %+v", got)
	}
	issued, _ := time.Parse(time.RFC3339, got.IssuedAt)
	expires, _ := time.Parse(time.RFC3339, got.ExpiresAt)
	if expires.Sub(issued) != 30*24*time.Hour {
		t.Errorf("lifetime %v, want 30 days", expires.Sub(issued))
	}
	claims, err := codetoken.Parse(got.QR, e.keys.ForIssuer("310000"))
	sess, _ := e.sessions.Verify(alice)
	if err != nil || claims.Kind != "nucleic" || claims.Colour != "" || claims.Subject != sess.PersonID || claims.PersonNo != sess.PersonNo {
		t.Errorf("claims = %+v, %v", claims, err)
	}

	// Within half its life the same code comes back; after it, a new one.
	e.clock.Advance(15*24*time.Hour - time.Minute)
	alice, _ = e.verifiedUser(t, "alice", aliceName, aliceNumber)
	if again := decode[nucleicCodeResponse](t, e.json("GET", "/api/v1/me/nucleic-code", alice, nil), 200); again.QR != got.QR {
		t.Error("a new code within half the old one's life")
	}
	e.clock.Advance(2 * time.Minute)
	if again := decode[nucleicCodeResponse](t, e.json("GET", "/api/v1/me/nucleic-code", alice, nil), 200); again.QR == got.QR {
		t.Error("the same code after half its life")
	}

	// A relative's, audited; it proves identity, not health: verify refuses it.
	mother := decode[relativeView](t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 201)
	rel := decode[nucleicCodeResponse](t, e.json("GET", "/api/v1/relatives/"+mother.ID+"/nucleic-code", alice, nil), 200)
	if rel.Kind != "nucleic" || rel.MaskedName != "李*" {
		t.Errorf("relative nucleic code = %+v", rel)
	}
	if audit, _ := e.store.AuditEntries(t.Context(), "relative.nucleic_code", mother.ID); len(audit) != 1 {
		t.Errorf("%d audit entries", len(audit))
	}
	wantError(t, e.json("GET", "/api/v1/relatives/nope/nucleic-code", alice, nil), 404, "relative_not_found")
	staff := e.makeVerifier(t, "staff", "王小明", staffNumber)
	v := decode[verifyBody](t, e.json("POST", "/api/v1/verify", staff, map[string]string{"qr": rel.QR}), 200)
	if v.Result != "invalid" || v.Reason != "not_a_health_code" || v.Colour != "" || v.MaskedName != "" {
		t.Errorf("verify of a nucleic code = %+v", v)
	}
	if strings.Contains(e.allOutput(), motherNumber) || strings.Contains(e.allOutput(), aliceNumber) {
		t.Error("a document number leaked")
	}
}

// A relative's 核酸码 names the link it was handed out through: once the
// link is deleted, the former holder cannot register samples in the
// relative's name with it (the lab's result would become their status).
func TestADeletedLinksNucleicCodeNoLongerSamples(t *testing.T) {
	e, alice := familyEnv(t)
	mother := decode[relativeView](t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 201)
	qr := decode[nucleicCodeResponse](t, e.json("GET", "/api/v1/relatives/"+mother.ID+"/nucleic-code", alice, nil), 200).QR
	own := decode[nucleicCodeResponse](t, e.json("GET", "/api/v1/me/nucleic-code", alice, nil), 200).QR
	staff := e.makeSampler(t, "sampler", "张采样", samplerNumber, "徐汇区康健街道采样点")
	if rec := e.json("POST", "/api/v1/sampling/tubes", staff, map[string]any{"tube": "T-00000001", "mode": 10}); rec.Code != 201 {
		t.Fatalf("open = %d %s", rec.Code, rec.Body)
	}
	if rec := e.sample(staff, "T-00000001", map[string]string{"sample_id": "s-link-0001", "qr": qr}); rec.Code != 201 {
		t.Fatalf("while the link stands: %d %s", rec.Code, rec.Body)
	}
	if rec := e.json("DELETE", "/api/v1/relatives/"+mother.ID, alice, nil); rec.Code != 200 {
		t.Fatalf("delete link = %d %s", rec.Code, rec.Body)
	}
	wantError(t, e.sample(staff, "T-00000001", map[string]string{"sample_id": "s-link-0002", "qr": qr}), 400, codeRevoked)
	// Verify still answers it no health code, telling nothing of the link.
	verifier := e.makeVerifier(t, "gate", "王门卫", idNumber("31010419800808001"))
	if got := decode[verifyBody](t, e.json("POST", "/api/v1/verify", verifier, map[string]string{"qr": qr}), 200); got.Result != "invalid" || got.Reason != "not_a_health_code" {
		t.Errorf("verify of the ended link's 核酸码 = %+v", got)
	}
	// The holder's own code names no link and still stands.
	if rec := e.sample(staff, "T-00000001", map[string]string{"sample_id": "s-own-0001", "qr": own}); rec.Code != 201 {
		t.Fatalf("the holder's own code: %d %s", rec.Code, rec.Body)
	}
}
