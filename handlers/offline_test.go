package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"healthcode/models"
	"healthcode/models/codetoken"
	"healthcode/models/fault"
)

type offlineVerifyBody struct {
	verifyBody
	CheckIDDocument bool `json:"check_id_document"`
}

func TestOfflineCodes(t *testing.T) { onEveryDriver(t, testOfflineCodes) }

// testPeerKey is a peer region's key for the revocation feed.
const testPeerKey = "a-peer-region-key-of-enough-length"

func testOfflineCodes(t *testing.T, driver func(*testSetup)) {
	e, alice := familyEnv(t, driver, func(s *testSetup) { s.cfg.PeerKeys = []string{"440300=" + testPeerKey} }) // alice is 76
	staff := e.makeVerifier(t, "staff", "王小明", staffNumber)
	verify := func(qr string) offlineVerifyBody {
		t.Helper()
		return decode[offlineVerifyBody](t, e.json("POST", "/api/v1/verify", staff, map[string]string{"qr": qr}), 200)
	}

	// A 40-year-old may not hold one; nothing is issued.
	bob, _ := e.verifiedUser(t, "bob", "张伟", bobNumber)
	wantError(t, e.json("POST", "/api/v1/me/offline-code", bob, nil), 403, fault.CodeNotEligible)
	wantError(t, e.json("GET", "/api/v1/me/offline-code", bob, nil), 404, fault.CodeNoOfflineCode)

	first := decode[offlineCodeResponse](t, e.json("POST", "/api/v1/me/offline-code", alice, nil), 201)
	issued, _ := time.Parse(time.RFC3339, first.IssuedAt)
	expires, _ := time.Parse(time.RFC3339, first.ExpiresAt)
	if first.Serial != 1 || first.MaskedName != "欧阳**" || expires.Sub(issued) != 180*24*time.Hour || first.PrintURL == "" {
		t.Errorf("offline code = %+v", first)
	}
	claims, err := codetoken.Parse(first.QR, e.keys.ForIssuer("310000"))
	if err != nil || claims.Kind != codetoken.KindOffline || claims.Colour != "" || claims.Serial != 1 || hex.EncodeToString(claims.ID) != first.ID {
		t.Errorf("claims = %+v, %v", claims, err)
	}
	if again := decode[offlineCodeResponse](t, e.json("GET", "/api/v1/me/offline-code", alice, nil), 200); again.ID != first.ID || again.Serial != 1 {
		t.Errorf("GET = %+v", again)
	}
	v := verify(first.QR)
	if v.Result != "valid" || v.Kind != "offline" || v.Colour != "green" || !v.CheckIDDocument || v.MaskedName != "欧阳**" {
		t.Errorf("verify = %+v", v)
	}
	// The live colour, not the paper's.
	e.importListDone(t, "cdc", "doc_type,doc_number,colour,reason\nresident_id,"+aliceNumber+",red,密接\n")
	if v := verify(first.QR); v.Result != "valid" || v.Colour != "red" {
		t.Errorf("verify after red = %+v", v)
	}

	// The sampling point takes the paper as identification.
	sampler := e.makeSampler(t, "sampler", "张采样", samplerNumber, "徐汇区康健街道采样点")
	if rec := e.json("POST", "/api/v1/sampling/tubes", sampler, map[string]any{"tube": "T-00000001", "mode": 10}); rec.Code != 201 {
		t.Fatalf("open tube = %d %s", rec.Code, rec.Body)
	}
	if got := decode[sampleResponse](t, e.sample(sampler, "T-00000001", map[string]string{"sample_id": "s-paper-0001", "qr": first.QR}), 201); got.MaskedName != "欧阳**" {
		t.Errorf("sample by offline code = %+v", got)
	}

	// Reissue: the old paper is revoked, the new one valid.
	second := decode[offlineCodeResponse](t, e.json("POST", "/api/v1/me/offline-code", alice, nil), 201)
	if second.Serial != 2 || second.ID == first.ID {
		t.Errorf("reissue = %+v", second)
	}
	if v := verify(first.QR); v.Result != "revoked" || v.Reason != models.ReasonReissued || v.Colour != "" || v.CheckIDDocument {
		t.Errorf("old paper = %+v", v)
	}
	if v := verify(second.QR); v.Result != "valid" {
		t.Errorf("new paper = %+v", v)
	}
	// Loss: revoked, none current, a second loss report finds nothing.
	if rec := e.json("POST", "/api/v1/me/offline-code/loss", alice, nil); rec.Code != 200 {
		t.Fatalf("loss = %d %s", rec.Code, rec.Body)
	}
	if v := verify(second.QR); v.Result != "revoked" || v.Reason != models.ReasonReportedLost {
		t.Errorf("lost paper = %+v", v)
	}
	wantError(t, e.json("POST", "/api/v1/me/offline-code/loss", alice, nil), 404, fault.CodeNoOfflineCode)
	wantError(t, e.sample(sampler, "T-00000001", map[string]string{"sample_id": "s-paper-0002", "qr": second.QR}), 400, "revoked")
	wantError(t, e.json("GET", "/api/v1/me/offline-code", alice, nil), 404, fault.CodeNoOfflineCode)

	// For an elder relative (66), audited under the holder's account.
	mother := decode[relativeView](t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 201)
	rel := decode[offlineCodeResponse](t, e.json("POST", "/api/v1/relatives/"+mother.ID+"/offline-code", alice, nil), 201)
	if rel.MaskedName != "李*" || rel.Serial != 1 {
		t.Errorf("relative's = %+v", rel)
	}
	if v := verify(rel.QR); v.Result != "valid" || !v.CheckIDDocument {
		t.Errorf("relative's verify = %+v", v)
	}
	wantError(t, e.json("POST", "/api/v1/relatives/nope/offline-code", alice, nil), 404, "relative_not_found")
	// Fetching the relative's paper again is audited, as a proxy lookup.
	if again := decode[offlineCodeResponse](t, e.json("GET", "/api/v1/relatives/"+mother.ID+"/offline-code", alice, nil), 200); again.ID != rel.ID {
		t.Errorf("relative's again = %+v", again)
	}
	if views, _ := e.store.AuditEntries(t.Context(), "offline_code.view", ""); len(views) != 1 || !strings.HasPrefix(views[0].Actor, "account:") {
		t.Errorf("relative's paper fetched: audit %+v", views)
	}

	// The revocation feed: verifiers only; both revoked codes, hashed.
	wantError(t, e.json("GET", "/api/v1/offline-codes/revoked?since=0", bob, nil), 403, fault.CodeNotVerifier)
	wantError(t, e.json("GET", "/api/v1/offline-codes/revoked?since=x", staff, nil), 400, "bad_since")
	feed := decode[models.RevokedFeed](t, e.json("GET", "/api/v1/offline-codes/revoked?since=0", staff, nil), 200)
	hash := func(id string) string {
		b, _ := hex.DecodeString(id)
		h := sha256.Sum256(b)
		return base64.StdEncoding.EncodeToString(h[:16])
	}
	if len(feed.Entries) != 2 || feed.Entries[0] != hash(first.ID) || feed.Entries[1] != hash(second.ID) || feed.Next == 0 {
		t.Errorf("feed = %+v", feed)
	}
	if more := decode[models.RevokedFeed](t, e.json("GET", "/api/v1/offline-codes/revoked?since="+strconv.FormatInt(feed.Next, 10), staff, nil), 200); len(more.Entries) != 0 || more.Next != feed.Next {
		t.Errorf("feed after next = %+v", more)
	}
	// A peer region reads the same feed with its key, audited as its own;
	// a wrong key is refused.
	peer := func(key string) *httptest.ResponseRecorder {
		return e.do("GET", "/api/v1/offline-codes/revoked?since=0", nil, "Authorization", "Peer "+key)
	}
	if got := decode[models.RevokedFeed](t, peer(testPeerKey), 200); !slices.Equal(got.Entries, feed.Entries) || got.Next != feed.Next {
		t.Errorf("the peer's feed = %+v, want %+v", got, feed)
	}
	wantError(t, peer("not-the-peer-region-key-at-all"), 401, "peer_required")
	if reads, _ := e.store.AuditEntries(t.Context(), "offline_codes.revoked_feed", ""); len(reads) != 1 || reads[0].Actor != "peer:440300" {
		t.Errorf("the peer's read audited as %+v", reads)
	}

	sess, _ := e.sessions.Verify(alice)
	issues, _ := e.store.AuditEntries(t.Context(), "offline_code.issue", sess.PersonID)
	losses, _ := e.store.AuditEntries(t.Context(), "offline_code.loss", sess.PersonID)
	if len(issues) != 2 || len(losses) != 1 || issues[0].Actor != "account:"+sess.AccountID {
		t.Errorf("audit: %+v, %+v", issues, losses)
	}

	// 180 days on, the relative's paper has expired.
	e.clock.Advance(180*24*time.Hour + time.Minute)
	staff = e.makeVerifier(t, "staff", "王小明", staffNumber)
	if v := verify(rel.QR); v.Result != "expired" {
		t.Errorf("after 180 days = %+v", v)
	}
	if strings.Contains(e.allOutput(), aliceNumber) || strings.Contains(e.allOutput(), motherNumber) {
		t.Error("a document number leaked")
	}
}

// TestVerificationViewAsksForTheIDCard: a valid offline code shows
// 请核对身份证件 beside the live colour; a personal code does not.
func TestVerificationViewAsksForTheIDCard(t *testing.T) {
	e, ctx, alice, qr := verifyViewEnv(t, phone(375, 812))
	paper := decode[offlineCodeResponse](t, e.json("POST", "/api/v1/me/offline-code", alice, nil), 201)
	const shown = `(function () { var el = document.querySelector("#idcheck");
		return el.getClientRects().length > 0 ? el.textContent : ""; })()`
	scanIn(t, ctx, paper.QR)
	if got := evalJS[string](t, ctx, shown); !strings.Contains(got, "请核对身份证件") {
		t.Errorf("offline code: the ID-card line reads %q", got)
	}
	if got := evalJS[string](t, ctx, `document.querySelector("#kind").textContent + "|" + document.querySelector("#block").className`); got != "离线码|green" {
		t.Errorf("offline code: kind and colour %q", got)
	}
	scanIn(t, ctx, qr)
	if got := evalJS[string](t, ctx, shown); got != "" {
		t.Errorf("personal code: the ID-card line shows %q", got)
	}
}

func TestKioskOfflineCodes(t *testing.T) { onEveryDriver(t, testKioskOfflineCodes) }

func testKioskOfflineCodes(t *testing.T, driver func(*testSetup)) {
	e, alice := familyEnv(t, driver)
	staff := e.makeVerifier(t, "staff", "王小明", staffNumber)
	op := func(method, path string, body any) *httptest.ResponseRecorder {
		b, _ := json.Marshal(body)
		return e.do(method, path, bytes.NewReader(b), "Content-Type", "application/json", "Authorization", "Operator "+testOperatorKey)
	}
	wantError(t, op("POST", "/api/v1/admin/kiosks", map[string]string{"name": ""}), 400, "invalid_kiosk")
	reg := decode[struct{ ID, Key string }](t, op("POST", "/api/v1/admin/kiosks", map[string]string{"name": "康健街道 1 号机", "place": "徐汇区康健街道社区服务中心"}), 201)
	if reg.ID == "" || len(reg.Key) < 40 {
		t.Fatalf("kiosk = %+v", reg)
	}
	kiosk := func(path string, body any, key string) *httptest.ResponseRecorder {
		b, _ := json.Marshal(body)
		return e.do("POST", path, bytes.NewReader(b), "Content-Type", "application/json", "Authorization", "Kiosk "+key)
	}
	elder := idNumber("31010419610315002") // 65
	card := map[string]string{"doc_type": "resident_id", "doc_number": elder, "name": "陈秀英"}
	// An operator's birth date for a document without one: refused over a
	// resident ID's own, for an unknown document, and without the key.
	wantError(t, op("POST", "/api/v1/admin/birth-dates", map[string]string{"doc_type": "resident_id", "doc_number": aliceNumber, "birth_date": "1950-01-01"}), 409, "birth_date_on_document")
	wantError(t, op("POST", "/api/v1/admin/birth-dates", map[string]string{"doc_type": "passport", "doc_number": "E00000002", "birth_date": "1950-01-01"}), 404, "person_not_found")
	wantError(t, e.json("POST", "/api/v1/admin/birth-dates", "", map[string]string{"doc_type": "passport", "doc_number": "E00000002", "birth_date": "1950-01-01"}), 401, "operator_required")
	wantError(t, kiosk("/api/v1/kiosk/offline-codes", card, "wrong-key"), 401, "kiosk_required")
	wantError(t, e.json("POST", "/api/v1/kiosk/offline-codes", "", card), 401, "kiosk_required")

	// Preview, then print, for a 65-year-old not yet registered.
	pre := decode[models.OfflinePreview](t, kiosk("/api/v1/kiosk/offline-codes/preview", card, reg.Key), 200)
	if pre.MaskedName != "陈**" || !pre.Eligible || pre.Reason != "" || strings.Contains(pre.MaskedDoc, elder[6:14]) {
		t.Errorf("preview = %+v", pre)
	}
	got := decode[offlineCodeResponse](t, kiosk("/api/v1/kiosk/offline-codes", card, reg.Key), 201)
	if v := decode[offlineVerifyBody](t, e.json("POST", "/api/v1/verify", staff, map[string]string{"qr": got.QR}), 200); v.Result != "valid" || v.Kind != "offline" || !v.CheckIDDocument {
		t.Errorf("kiosk paper verify = %+v", v)
	}
	// A 30-year-old is refused, with who may apply; a 16-year-old is not.
	young := map[string]string{"doc_type": "resident_id", "doc_number": idNumber("31010419960315003"), "name": "李强"}
	if pre := decode[models.OfflinePreview](t, kiosk("/api/v1/kiosk/offline-codes/preview", young, reg.Key), 200); pre.Eligible || !strings.Contains(pre.Reason, "60 周岁") {
		t.Errorf("preview of a 30-year-old = %+v", pre)
	}
	wantError(t, kiosk("/api/v1/kiosk/offline-codes", young, reg.Key), 403, fault.CodeNotEligible)
	teen := map[string]string{"doc_type": "resident_id", "doc_number": idNumber("31010420100315004"), "name": "王小雨"}
	decode[offlineCodeResponse](t, kiosk("/api/v1/kiosk/offline-codes", teen, reg.Key), 201)
	// By a live code; an expired one is refused.
	live := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", alice, nil), 200).QR
	byCode := decode[offlineCodeResponse](t, kiosk("/api/v1/kiosk/offline-codes", map[string]string{"qr": live}, reg.Key), 201)
	if byCode.MaskedName != "欧阳**" {
		t.Errorf("by live code = %+v", byCode)
	}
	audit, _ := e.store.AuditEntries(t.Context(), "offline_code.issue", "")
	kioskActs := 0
	for _, a := range audit {
		if a.Actor == "kiosk:"+reg.ID {
			kioskActs++
		}
	}
	if kioskActs != 3 {
		t.Errorf("%d issues audited as the kiosk's, want 3", kioskActs)
	}
	e.clock.Advance(time.Hour)
	wantError(t, kiosk("/api/v1/kiosk/offline-codes", map[string]string{"qr": live}, reg.Key), 400, "invalid_code")
	// Every kiosk action is audited as the kiosk's, previews and refusals
	// too (a refusal's transaction rolled back), by masked number only.
	for action, want := range map[string][]string{
		"offline_code.preview": {"eligible true", "eligible false"},
		"offline_code.refused": {fault.CodeNotEligible, "invalid_code"},
	} {
		entries, _ := e.store.AuditEntries(t.Context(), action, "")
		var got []string
		for _, a := range entries {
			if a.Actor != "kiosk:"+reg.ID || strings.Contains(a.Subject, elder) || strings.Contains(a.Subject, young["doc_number"]) {
				t.Errorf("%s entry %+v", action, a)
			}
			got = append(got, a.Detail)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s audited %q, want %q", action, got, want)
		}
	}
	// The preview judges as the issue would: the registered elder's card
	// under another name is not eligible, and says why.
	other := map[string]string{"doc_type": "resident_id", "doc_number": elder, "name": "陈秀兰"}
	if pre := decode[models.OfflinePreview](t, kiosk("/api/v1/kiosk/offline-codes/preview", other, reg.Key), 200); pre.Eligible || pre.Reason != models.ErrNameMismatch.Message {
		t.Errorf("preview under another name = %+v", pre)
	}
	wantError(t, kiosk("/api/v1/kiosk/offline-codes", other, reg.Key), 400, fault.CodeNameMismatch)
	// A deleted kiosk's key stops at once.
	if rec := op("DELETE", "/api/v1/admin/kiosks/"+reg.ID, nil); rec.Code != 204 {
		t.Fatalf("delete = %d %s", rec.Code, rec.Body)
	}
	wantError(t, kiosk("/api/v1/kiosk/offline-codes", card, reg.Key), 401, "kiosk_required")
	if strings.Contains(e.allOutput(), elder) {
		t.Error("a document number leaked")
	}
	if strings.Contains(e.logs.String(), reg.Key[8:]) {
		t.Error("the kiosk key is in the log")
	}
}

// A person is issued at most five offline codes in any 24 hours, by every
// route together: each reissue revokes a paper and adds an entry to the
// feed every offline scanner downloads and keeps for 180 days.
func TestOfflineCodesAreIssuedFiveTimesADayAtMost(t *testing.T) {
	e, alice := familyEnv(t)
	mother := decode[relativeView](t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 201)
	issue := func() *httptest.ResponseRecorder {
		return e.json("POST", "/api/v1/relatives/"+mother.ID+"/offline-code", alice, nil)
	}
	for i := range 5 {
		if rec := issue(); rec.Code != 201 {
			t.Fatalf("issue %d = %d %s", i+1, rec.Code, rec.Body)
		}
		e.clock.Advance(time.Minute)
	}
	wantError(t, issue(), 403, fault.CodeOfflineCodeLimit)
	var feed int64
	e.db.Table("offline_revocations").Count(&feed)
	if feed > 5 {
		t.Errorf("%d revocation feed entries after five issues", feed)
	}
	// The paper last issued is still the live one.
	if rec := e.json("GET", "/api/v1/relatives/"+mother.ID+"/offline-code", alice, nil); rec.Code != 200 {
		t.Errorf("the live paper after a refused reissue: %d %s", rec.Code, rec.Body)
	}
	e.clock.Advance(24*time.Hour - 4*time.Minute) // a day after the first
	alice = e.passFace(t, alice)
	if rec := issue(); rec.Code != 201 {
		t.Fatalf("a day later = %d %s", rec.Code, rec.Body)
	}
}
