package handlers

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"healthcode/models"
	"healthcode/models/codetoken"
	"healthcode/models/fault"
)

// Unified social credit codes of real organisations (their check digits
// hold) and the standard's own example.
const (
	creditHuawei  = "914403001922038216"
	creditTencent = "9144030071526726XG"
	creditExample = "91350100M000100Y43"
	// creditPilot has the right shape but a check digit that fails.
	creditPilot = "91310000MA1FL0Q08U"
)

var carolNumber = idNumber("31011519920303033")

// venue posts a venue registration.
func (e *testEnv) venue(token, name, credit string) *httptest.ResponseRecorder {
	return e.json("POST", "/api/v1/venues", token, map[string]string{"name": name, "credit_code": credit,
		"address": "上海市徐汇区漕溪北路88号", "district": "310104", "kind": "shop"})
}

// checkIn posts a visitor's scan of a venue code.
func (e *testEnv) checkIn(token, qr string, relatives ...string) *httptest.ResponseRecorder {
	// Each check-in a second after the one before, so the register's order
	// is theirs.
	defer e.clock.Advance(time.Second)
	body := map[string]any{"venue_qr": qr}
	if relatives != nil {
		body["relative_ids"] = relatives
	}
	return e.json("POST", "/api/v1/checkins", token, body)
}

type registerBody struct {
	CheckIns   []checkInView    `json:"checkins"`
	Counts     map[string]int64 `json:"counts"`
	NextCursor string           `json:"next_cursor"`
}

// colours reads every registered person's colour from memory and from the
// database's status tables, for "nothing changed" checks.
func (e *testEnv) colours(t *testing.T, nos ...uint32) string {
	t.Helper()
	var b strings.Builder
	for _, no := range nos {
		s := e.status.Of(no)
		fmt.Fprintf(&b, "%d=%s/%s;", no, s.Colour, s.Source)
	}
	var changes, statuses int64
	if err := e.db.Table("status_changes").Count(&changes).Error; err != nil {
		t.Fatal(err)
	}
	if err := e.db.Table("person_status").Count(&statuses).Error; err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "changes=%d statuses=%d seq=%d", changes, statuses, e.status.Seq())
	return b.String()
}

func TestVenueCodes(t *testing.T) { onEveryDriver(t, testVenueCodes) }

func testVenueCodes(t *testing.T, driver func(*testSetup)) {
	e, alice := familyEnv(t, driver)
	bob, bobID := e.verifiedUser(t, "bob", "王波", bobNumber)
	carol, _ := e.verifiedUser(t, "carol", "陈可", carolNumber)
	staff := e.makeVerifier(t, "staff", "王小明", staffNumber)
	son := decode[relativeView](t, e.addRelative(alice, "欧阳小明", "resident_id", sonNumber, "child"), 201)
	pending := decode[relativeView](t, e.addRelative(alice, "张伟", "passport", "E87654321", "other"), 201)
	verify := func(qr string) verifyBody {
		t.Helper()
		return decode[verifyBody](t, e.json("POST", "/api/v1/verify", staff, map[string]string{"qr": qr}), 200)
	}

	// Registration: a valid credit code is active at once, a failing check
	// digit waits for review, anything else is refused; several sites.
	shop := decode[venueView](t, e.venue(alice, "欧阳便利店（漕溪店）", creditHuawei), 201)
	if shop.State != "active" || shop.CreditCodeMasked != "91**************16" || shop.QR == "" || shop.District != "310104" || shop.Kind != "shop" {
		t.Errorf("registered = %+v", shop)
	}
	second := decode[venueView](t, e.venue(alice, "欧阳便利店（龙华店）", strings.ToLower(creditTencent)), 201)
	review := decode[venueView](t, e.venue(alice, "试点企业食堂", creditPilot), 201)
	if second.State != "active" || review.State != "pending_review" {
		t.Errorf("second %s, pilot %s", second.State, review.State)
	}
	for _, credit := range []string{"9135010", "91350100M0001O0Y43", "91350100M000100Y4Z", "913501000000100Y43X", ""} {
		wantError(t, e.venue(alice, "某店", credit), 400, "invalid_credit_code")
	}
	wantError(t, e.venue(alice, "店", creditExample), 400, "invalid_venue_name")
	wantError(t, e.json("POST", "/api/v1/venues", alice, map[string]string{"name": "某店", "credit_code": creditExample,
		"address": "上海市", "district": "31010", "kind": "shop"}), 400, "invalid_district")
	wantError(t, e.json("POST", "/api/v1/venues", alice, map[string]string{"name": "某店", "credit_code": creditExample,
		"address": "上海市", "district": "310104", "kind": "casino"}), 400, "invalid_venue_kind")
	if list := decode[struct{ Venues []venueView }](t, e.json("GET", "/api/v1/venues", alice, nil), 200); len(list.Venues) != 3 {
		t.Errorf("alice's venues = %+v", list)
	}

	// The venue code is not a health code; a pending one is revoked.
	if got := verify(shop.QR); got.Result != "invalid" || got.Reason != models.ReasonVenueCode || got.MaskedName != "" || got.Colour != "" {
		t.Errorf("verify a venue code = %+v", got)
	}
	if got := verify(review.QR); got.Result != "revoked" || got.Reason != models.ReasonVenuePending {
		t.Errorf("verify a pending venue = %+v", got)
	}
	// Nor does it identify anyone at a sampling point.
	if v, err := e.api.checker.Identify(t.Context(), shop.QR); err != nil || v.Result != "invalid" || v.Reason != models.ReasonVenueCode {
		t.Errorf("identify a venue code = %+v %v", v, err)
	}

	// A yellow caller may not register.
	e.importListDone(t, "community", "resident_id,"+bobNumber+",yellow,居家观察\n")
	wantError(t, e.venue(bob, "王波水果店", creditExample), 409, fault.CodeRegistrarNotGreen)

	// Check-ins: self and a child; a pending link is refused; nobody's
	// colour changes.
	aliceSess, _ := e.sessions.Verify(alice)
	bobSess, _ := e.sessions.Verify(bob)
	carolSess, _ := e.sessions.Verify(carol)
	before := e.colours(t, aliceSess.PersonNo, bobSess.PersonNo, carolSess.PersonNo)
	got := decode[checkInResponse](t, e.checkIn(alice, shop.QR, son.ID), 201)
	if len(got.CheckIns) != 2 || got.CheckIns[0].MaskedName != "欧阳**" || got.CheckIns[1].MaskedName != "欧阳**" || got.CheckIns[0].Colour != "green" ||
		got.Venue.Name != "欧阳便利店（漕溪店）" || got.Venue.Address != "上海市徐汇区漕溪北路88号" || !strings.HasPrefix(got.TicketURL, "/h5/checkin?ticket=") ||
		got.CheckIns[0].Nucleic == nil || got.CheckIns[0].ColourText != "未见异常" {
		t.Errorf("check-in = %+v", got)
	}
	wantError(t, e.checkIn(alice, shop.QR, pending.ID), 403, fault.CodeRelativePending)
	wantError(t, e.checkIn(bob, shop.QR, son.ID), 404, fault.CodeRelativeNotFound)
	bobIn := decode[checkInResponse](t, e.checkIn(bob, shop.QR), 201)
	if bobIn.CheckIns[0].Colour != "yellow" {
		t.Errorf("bob checked in %+v", bobIn.CheckIns)
	}
	for range 3 {
		decode[checkInResponse](t, e.checkIn(carol, second.QR), 201)
	}
	if after := e.colours(t, aliceSess.PersonNo, bobSess.PersonNo, carolSess.PersonNo); after != before {
		t.Errorf("check-ins changed colours:\n before %s\n after  %s", before, after)
	}
	// Not a venue code, garbage, a pending venue.
	personal := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", carol, nil), 200).QR
	wantError(t, e.checkIn(carol, personal), 400, "invalid_venue_code")
	wantError(t, e.checkIn(carol, "HC1JKM:nonsense"), 400, "invalid_venue_code")
	wantError(t, e.checkIn(carol, review.QR), 409, fault.CodeVenueInactive)
	// Without today's face check: refused.
	unverified := e.bind(t, e.sandboxLogin(t, "dave").Token, "赵大", "resident_id", walkInNumbers[0]).Token
	wantError(t, e.checkIn(unverified, shop.QR), 403, fault.CodeFaceRequired)
	wantError(t, e.venue(unverified, "赵大面馆", creditExample), 403, fault.CodeFaceRequired)

	// The registrar turns yellow: the venue is suspended until he is green.
	e.importListDone(t, "community", "resident_id,"+aliceNumber+",yellow,居家观察\n")
	wantError(t, e.checkIn(carol, shop.QR), 409, fault.CodeVenueSuspended)
	e.importListDone(t, "community", "resident_id,"+bobNumber+",yellow,居家观察\n")
	decode[checkInResponse](t, e.checkIn(carol, shop.QR), 201)

	// The register: the registrar's, masked, newest first, paged.
	reg := decode[registerBody](t, e.json("GET", "/api/v1/venues/"+shop.ID+"/checkins?limit=2", alice, nil), 200)
	if len(reg.CheckIns) != 2 || reg.NextCursor == "" || reg.Counts["green"] != 3 || reg.Counts["yellow"] != 1 || reg.Counts["red"] != 0 {
		t.Fatalf("register page 1 = %+v", reg)
	}
	var all []checkInView
	for cursor := ""; ; {
		page := decode[registerBody](t, e.json("GET", "/api/v1/venues/"+shop.ID+"/checkins?limit=1&cursor="+cursor, alice, nil), 200)
		all = append(all, page.CheckIns...)
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if len(all) != 4 || all[0].MaskedName != "陈*" || all[1].MaskedName != "王*" || all[1].Colour != "yellow" || all[3].CheckedInAt > all[0].CheckedInAt {
		t.Errorf("register newest first = %+v", all)
	}
	wantError(t, e.json("GET", "/api/v1/venues/"+shop.ID+"/checkins?cursor=bm9wZQ", alice, nil), 400, "invalid_cursor")
	wantError(t, e.json("GET", "/api/v1/venues/"+shop.ID+"/checkins?limit=201", alice, nil), 400, "invalid_limit")
	wantError(t, e.json("GET", "/api/v1/venues/"+shop.ID+"/checkins?from=yesterday", alice, nil), 400, "invalid_period")
	if day := decode[registerBody](t, e.json("GET", "/api/v1/venues/"+shop.ID+"/checkins?from=2026-11-22&to=2026-11-22", alice, nil), 200); len(day.CheckIns) != 0 {
		t.Errorf("yesterday's register = %+v", day)
	}
	if day := decode[registerBody](t, e.json("GET", "/api/v1/venues/"+shop.ID+"/checkins?from=2026-11-23&to=2026-11-23", alice, nil), 200); len(day.CheckIns) != 4 {
		t.Errorf("today's register = %+v", day)
	}

	// A stranger's 404; a deputy reads but does not rotate.
	wantError(t, e.json("GET", "/api/v1/venues/"+shop.ID+"/checkins", bob, nil), 404, fault.CodeVenueNotFound)
	wantError(t, e.json("GET", "/api/v1/venues/"+shop.ID+"/checkins.csv", bob, nil), 404, fault.CodeVenueNotFound)
	wantError(t, e.json("GET", "/api/v1/venues/"+shop.ID+"/poster", bob, nil), 404, fault.CodeVenueNotFound)
	wantError(t, e.json("POST", "/api/v1/venues/"+shop.ID+"/rotate", bob, nil), 404, fault.CodeVenueNotFound)
	wantError(t, e.json("POST", "/api/v1/venues/"+shop.ID+"/deputies", bob, map[string]string{"account_id": bobID}), 404, fault.CodeVenueNotFound)
	wantError(t, e.json("POST", "/api/v1/venues/"+shop.ID+"/deputies", alice, map[string]string{"account_id": "nosuchaccount"}), 404, "account_not_found")
	if rec := e.json("POST", "/api/v1/venues/"+shop.ID+"/deputies", alice, map[string]string{"account_id": bobID}); rec.Code != 201 {
		t.Fatalf("add deputy = %d %s", rec.Code, rec.Body)
	}
	if page := decode[registerBody](t, e.json("GET", "/api/v1/venues/"+shop.ID+"/checkins", bob, nil), 200); len(page.CheckIns) != 4 {
		t.Errorf("the deputy's register = %+v", page)
	}
	wantError(t, e.json("POST", "/api/v1/venues/"+shop.ID+"/rotate", bob, nil), 403, fault.CodeVenueNotRegistrar)
	wantError(t, e.json("DELETE", "/api/v1/venues/"+shop.ID+"/checkins", bob, nil), 403, fault.CodeVenueNotRegistrar)
	if list := decode[struct{ Venues []venueView }](t, e.json("GET", "/api/v1/venues", bob, nil), 200); len(list.Venues) != 1 || list.Venues[0].ID != shop.ID {
		t.Errorf("bob's venues = %+v", list)
	}

	// The export: UTF-8 with a BOM, the right columns, masked only.
	rec := e.json("GET", "/api/v1/venues/"+shop.ID+"/checkins.csv", alice, nil)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") || !bytes.HasPrefix(rec.Body.Bytes(), []byte("\xEF\xBB\xBF")) {
		t.Fatalf("export = %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String()[:min(20, rec.Body.Len())])
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(rec.Body.Bytes(), []byte("\xEF\xBB\xBF")))).ReadAll()
	if err != nil || len(rows) != 5 || strings.Join(rows[0], ",") != "登记时间,姓名,证件号码,健康码颜色" ||
		strings.Join(rows[1][1:], ",") != "陈*,31**************"+carolNumber[16:]+",未见异常" || rows[2][3] != "居家观察" {
		t.Errorf("export rows = %q %v", rows, err)
	}
	for _, secret := range []string{aliceNumber, aliceName, bobNumber, carolNumber, "陈可", sonNumber, creditHuawei} {
		if strings.Contains(rec.Body.String(), secret) {
			t.Errorf("the export holds %q", secret)
		}
	}
	if entries, _ := e.store.AuditEntries(t.Context(), "venue.checkins_export", shop.ID); len(entries) != 1 {
		t.Errorf("export audit = %+v", entries)
	}
	if entries, _ := e.store.AuditEntries(t.Context(), "venue.checkins_read", shop.ID); len(entries) < 8 {
		t.Errorf("read audit = %d entries", len(entries))
	}

	// Rotation: the old poster is revoked (rotated), the new one works.
	rotated := decode[venueView](t, e.json("POST", "/api/v1/venues/"+shop.ID+"/rotate", alice, nil), 200)
	if rotated.QR == shop.QR {
		t.Fatal("rotation kept the code")
	}
	if got := verify(shop.QR); got.Result != "revoked" || got.Reason != models.ReasonVenueRotated {
		t.Errorf("verify a rotated poster = %+v", got)
	}
	wantError(t, e.checkIn(carol, shop.QR), 409, fault.CodeVenueInactive)
	decode[checkInResponse](t, e.checkIn(carol, rotated.QR), 201)

	// Review: the operator approves the pilot code, which then works.
	reviews := decode[struct{ Reviews []venueReviewView }](t, e.operator("GET", "/api/v1/admin/venue-reviews", nil), 200)
	if len(reviews.Reviews) != 1 || reviews.Reviews[0].CreditCode != creditPilot || reviews.Reviews[0].ID != review.ID {
		t.Fatalf("reviews = %+v", reviews)
	}
	wantError(t, e.operator("POST", "/api/v1/admin/venue-reviews/"+review.ID, map[string]string{"decision": "approve", "note": "负责人 " + aliceNumber}), 400, fault.CodeNoteHasDocument)
	if rec := e.operator("POST", "/api/v1/admin/venue-reviews/"+review.ID, map[string]string{"decision": "approve", "note": "试点地区代码"}); rec.Code != 200 {
		t.Fatalf("approve = %d %s", rec.Code, rec.Body)
	}
	wantError(t, e.operator("POST", "/api/v1/admin/venue-reviews/"+review.ID, map[string]string{"decision": "reject"}), 409, fault.CodeVenueReviewClosed)
	decode[checkInResponse](t, e.checkIn(carol, review.QR), 201)

	// Ending a venue: its code is revoked from then on.
	if ended := decode[venueView](t, e.json("DELETE", "/api/v1/venues/"+second.ID, alice, nil), 200); ended.State != "ended" || ended.QR != "" {
		t.Errorf("ended = %+v", ended)
	}
	if got := verify(second.QR); got.Result != "revoked" || got.Reason != models.ReasonVenueEnded {
		t.Errorf("verify an ended venue = %+v", got)
	}
	wantError(t, e.checkIn(carol, second.QR), 409, fault.CodeVenueInactive)
	wantError(t, e.json("DELETE", "/api/v1/venues/"+second.ID, alice, nil), 409, fault.CodeVenueInactive)

	// Deleting the register.
	if del := decode[struct{ Deleted int64 }](t, e.json("DELETE", "/api/v1/venues/"+shop.ID+"/checkins", alice, nil), 200); del.Deleted != 5 {
		t.Errorf("deleted = %+v", del)
	}
	if page := decode[registerBody](t, e.json("GET", "/api/v1/venues/"+shop.ID+"/checkins", alice, nil), 200); len(page.CheckIns) != 0 {
		t.Errorf("after delete = %+v", page)
	}
	if out := e.allOutput(); strings.Contains(out, aliceNumber) || strings.Contains(out, aliceName) || strings.Contains(out, carolNumber) {
		t.Error("a full name or document number reached a response or the log")
	}
	if after := e.colours(t, aliceSess.PersonNo, bobSess.PersonNo, carolSess.PersonNo); !strings.Contains(after, "=green/") {
		t.Errorf("colours at the end: %s", after)
	}
}

// TestVenueCodeClaims: a venue code holds the venue, not a person, and
// lives as long as the venue.
func TestVenueCodeClaims(t *testing.T) {
	e, alice := familyEnv(t)
	shop := decode[venueView](t, e.venue(alice, "欧阳便利店", creditExample), 201)
	c, err := codetoken.Parse(shop.QR, e.keys.ForIssuer("310000"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != codetoken.KindVenue || c.Subject != shop.ID || c.PersonNo != 0 || c.VenueName != "欧阳便利店" ||
		c.VenueAddress != "上海市徐汇区漕溪北路88号" || c.Serial != 1 || c.MaskedName != "" || c.Colour != "" {
		t.Errorf("claims = %+v", c)
	}
	if c.ExpiresAt.Sub(c.IssuedAt) != codetoken.VenueLifetime {
		t.Errorf("lifetime = %v", c.ExpiresAt.Sub(c.IssuedAt))
	}
	// The same venue signs to the same code; a year on it still checks in.
	if again := decode[struct{ Venues []venueView }](t, e.json("GET", "/api/v1/venues", alice, nil), 200); again.Venues[0].QR != shop.QR {
		t.Error("the code changed between two reads")
	}
	e.clock.Advance(365 * 24 * time.Hour)
	visitor, _ := e.verifiedUser(t, "carol", "陈可", carolNumber)
	decode[checkInResponse](t, e.checkIn(visitor, shop.QR), 201)
}

// Venue rights are the person's through their account. An account that
// loses its identity (an operator's unbind) can no longer list, export or
// change its venues, nor a deputy's; a person who moves to another account
// (a new phone) takes their venues and deputyships along. Visitors go on
// checking in meanwhile: the place is still there.
func TestVenueRightsFollowTheIdentity(t *testing.T) {
	onEveryDriver(t, testVenueRightsFollowTheIdentity)
}

func testVenueRightsFollowTheIdentity(t *testing.T, driver func(*testSetup)) {
	e := newTestEnv(t, driver)
	alice, aliceID := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	bob, _ := e.verifiedUser(t, "bob", "王波", bobNumber)
	carol, _ := e.verifiedUser(t, "carol", "陈可", carolNumber)
	shop := decode[venueView](t, e.venue(alice, "欧阳便利店", creditHuawei), 201)
	bakery := decode[venueView](t, e.venue(carol, "陈可面包房", creditHuawei), 201)
	if rec := e.json("POST", "/api/v1/venues/"+bakery.ID+"/deputies", carol, map[string]string{"account_id": aliceID}); rec.Code != 201 {
		t.Fatalf("deputy = %d %s", rec.Code, rec.Body)
	}
	decode[checkInResponse](t, e.checkIn(bob, shop.QR), 201)
	manages := func(token string) int {
		t.Helper()
		return len(decode[struct{ Venues []venueView }](t, e.json("GET", "/api/v1/venues", token, nil), 200).Venues)
	}
	if got := manages(alice); got != 2 {
		t.Fatalf("alice manages %d venues, want 2", got)
	}

	// Alice moves to a new phone: her venue and deputyship go with her.
	moved, movedID := e.verifiedUser(t, "alice-new-phone", aliceName, aliceNumber)
	if got := manages(moved); got != 2 {
		t.Errorf("the new account manages %d venues, want 2", got)
	}
	if rec := e.json("GET", "/api/v1/venues/"+shop.ID+"/checkins.csv", moved, nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "王*") {
		t.Errorf("the new account's export = %d %q", rec.Code, rec.Body)
	}
	old := e.sandboxLogin(t, "alice").Token
	if got := manages(old); got != 0 {
		t.Errorf("the old account still manages %d venues", got)
	}
	wantError(t, e.json("GET", "/api/v1/venues/"+shop.ID+"/checkins.csv", old, nil), 404, fault.CodeVenueNotFound)

	// An operator unbinds the new account: it keeps no rights either.
	if rec := e.operator("DELETE", "/api/v1/admin/identities/"+movedID, map[string]string{"note": "误绑定，已核实"}); rec.Code != 200 {
		t.Fatalf("unbind = %d %s", rec.Code, rec.Body)
	}
	unbound := e.sandboxLogin(t, "alice-new-phone").Token
	if got := manages(unbound); got != 0 {
		t.Errorf("an unbound account manages %d venues", got)
	}
	wantError(t, e.json("GET", "/api/v1/venues/"+shop.ID+"/checkins.csv", unbound, nil), 404, fault.CodeVenueNotFound)
	wantError(t, e.json("GET", "/api/v1/venues/"+bakery.ID+"/checkins", unbound, nil), 404, fault.CodeVenueNotFound)
	wantError(t, e.json("DELETE", "/api/v1/venues/"+shop.ID, unbound, nil), 404, fault.CodeVenueNotFound)
	decode[checkInResponse](t, e.checkIn(bob, shop.QR), 201)
}

func TestACheckInWithRelativesIsAudited(t *testing.T) {
	onEveryDriver(t, testACheckInWithRelativesIsAudited)
}

// A check-in that names relatives answers each one's live colour and latest
// result: a lookup through the link, audited (relative.lookup) in the
// check-in's own transaction, as GET /relatives/:id/status is. One of the
// holder alone writes no audit row.
func testACheckInWithRelativesIsAudited(t *testing.T, driver func(*testSetup)) {
	e, alice := familyEnv(t, driver)
	mother := decode[relativeView](t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 201)
	bob, _ := e.verifiedUser(t, "bob", "王波", bobNumber)
	shop := decode[venueView](t, e.venue(bob, "王波便利店", creditHuawei), 201)
	var before, after int64
	e.db.Table("audit_log").Count(&before)
	decode[checkInResponse](t, e.checkIn(alice, shop.QR), 201)
	e.db.Table("audit_log").Count(&after)
	if after != before {
		t.Errorf("a check-in of the holder alone wrote %d audit rows", after-before)
	}
	body := bytes.NewReader(mustJSON(map[string]any{"venue_qr": shop.QR, "relative_ids": []string{mother.ID}}))
	got := decode[checkInResponse](t, e.do("POST", "/api/v1/checkins", body, "Content-Type", "application/json", "Authorization", "Bearer "+alice,
		"X-Request-Id", "gateway-req-0001"), 201)
	if len(got.CheckIns) != 2 || got.CheckIns[1].Colour == "" {
		t.Fatalf("check-in = %+v", got)
	}
	rows, err := e.store.AuditEntries(t.Context(), "relative.lookup", mother.ID)
	if err != nil || len(rows) != 1 || !strings.Contains(rows[0].Detail, "checkin=") || rows[0].ClientRequestID != "gateway-req-0001" {
		t.Errorf("relative.lookup audit of the check-in: %+v %v", rows, err)
	}
}

// A deputyship is the person's it was given to: another person who binds
// the account after an unbind gets none of it, and the person's next
// account has it back; a person unbound first and bound on a new phone
// later takes their venues along too. A deputy must hold an identity.
func TestVenueRightsArePersonsNotAccounts(t *testing.T) {
	onEveryDriver(t, testVenueRightsArePersonsNotAccounts)
}

func testVenueRightsArePersonsNotAccounts(t *testing.T, driver func(*testSetup)) {
	e := newTestEnv(t, driver)
	alice, aliceID := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	carol, _ := e.verifiedUser(t, "carol", "陈可", carolNumber)
	bakery := decode[venueView](t, e.venue(carol, "陈可面包房", creditHuawei), 201)
	shop := decode[venueView](t, e.venue(alice, "欧阳便利店", creditHuawei), 201)
	anonymous := e.sandboxLogin(t, "nobody-yet")
	wantError(t, e.json("POST", "/api/v1/venues/"+bakery.ID+"/deputies", carol, map[string]string{"account_id": anonymous.Account.ID}), 400, fault.CodeInvalidDeputy)
	if rec := e.json("POST", "/api/v1/venues/"+bakery.ID+"/deputies", carol, map[string]string{"account_id": aliceID}); rec.Code != 201 {
		t.Fatalf("deputy = %d %s", rec.Code, rec.Body)
	}
	if rec := e.operator("DELETE", "/api/v1/admin/identities/"+aliceID, map[string]string{"note": "误绑定，已核实"}); rec.Code != 200 {
		t.Fatalf("unbind = %d %s", rec.Code, rec.Body)
	}
	// Bob binds the account alice was unbound from: nothing of hers.
	bobOnIt, acct := e.verifiedUser(t, "alice", "王波", bobNumber)
	if acct != aliceID {
		t.Fatalf("another account: %s", acct)
	}
	if got := decode[struct{ Venues []venueView }](t, e.json("GET", "/api/v1/venues", bobOnIt, nil), 200).Venues; len(got) != 0 {
		t.Errorf("bob manages %d venues of alice's", len(got))
	}
	wantError(t, e.json("GET", "/api/v1/venues/"+bakery.ID+"/checkins", bobOnIt, nil), 404, fault.CodeVenueNotFound)
	// Alice binds on a new phone: her venue and her deputyship follow.
	moved, _ := e.verifiedUser(t, "alice-new-phone", aliceName, aliceNumber)
	got := decode[struct{ Venues []venueView }](t, e.json("GET", "/api/v1/venues", moved, nil), 200).Venues
	if len(got) != 2 {
		t.Fatalf("alice on her new phone manages %d venues, want 2", len(got))
	}
	for _, id := range []string{shop.ID, bakery.ID} {
		if rec := e.json("GET", "/api/v1/venues/"+id+"/checkins", moved, nil); rec.Code != 200 {
			t.Errorf("register of %s on the new phone = %d %s", id, rec.Code, rec.Body)
		}
	}
	if rows, _ := e.store.AuditEntries(t.Context(), "venue.rights_move", ""); len(rows) == 0 {
		t.Error("the move of venue rights is not audited")
	}
}

// A deputy who comes to hold the registrar's old account (unbound, then
// bound by the deputy) is still only a deputy: the venue is not theirs to
// end, rotate or hand out; the registrar, bound again, has it back.
func TestADeputyOnTheRegistrarsAccountIsNoRegistrar(t *testing.T) {
	onEveryDriver(t, testADeputyOnTheRegistrarsAccountIsNoRegistrar)
}

func testADeputyOnTheRegistrarsAccountIsNoRegistrar(t *testing.T, driver func(*testSetup)) {
	e := newTestEnv(t, driver)
	carol, carolID := e.verifiedUser(t, "carol", "陈可", carolNumber)
	_, aliceID := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	bakery := decode[venueView](t, e.venue(carol, "陈可面包房", creditHuawei), 201)
	if rec := e.json("POST", "/api/v1/venues/"+bakery.ID+"/deputies", carol, map[string]string{"account_id": aliceID}); rec.Code != 201 {
		t.Fatalf("deputy = %d %s", rec.Code, rec.Body)
	}
	if rec := e.operator("DELETE", "/api/v1/admin/identities/"+carolID, map[string]string{"note": "误绑定，已核实"}); rec.Code != 200 {
		t.Fatalf("unbind = %d %s", rec.Code, rec.Body)
	}
	aliceOnIt, acct := e.verifiedUser(t, "carol", aliceName, aliceNumber)
	if acct != carolID {
		t.Fatalf("another account %s", acct)
	}
	if rec := e.json("GET", "/api/v1/venues/"+bakery.ID+"/checkins", aliceOnIt, nil); rec.Code != 200 {
		t.Errorf("the deputy's register = %d %s", rec.Code, rec.Body)
	}
	wantError(t, e.json("POST", "/api/v1/venues/"+bakery.ID+"/rotate", aliceOnIt, nil), 403, fault.CodeVenueNotRegistrar)
	wantError(t, e.json("DELETE", "/api/v1/venues/"+bakery.ID, aliceOnIt, nil), 403, fault.CodeVenueNotRegistrar)
	carolNew, _ := e.verifiedUser(t, "carol-new-phone", "陈可", carolNumber)
	if rec := e.json("POST", "/api/v1/venues/"+bakery.ID+"/rotate", carolNew, nil); rec.Code != 200 {
		t.Errorf("the registrar on her new phone rotates = %d %s", rec.Code, rec.Body)
	}
}

// Two deputies of one venue whose accounts change hands keep each their
// own right: bob, unbound, then on a new phone, is still a deputy, though
// alice came to hold his old account.
func TestADeputyshipFollowsItsPersonOnly(t *testing.T) {
	e := newTestEnv(t)
	carol, _ := e.verifiedUser(t, "carol", "陈可", carolNumber)
	_, aliceID := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	_, bobID := e.verifiedUser(t, "bob", "王波", bobNumber)
	bakery := decode[venueView](t, e.venue(carol, "陈可面包房", creditHuawei), 201)
	for _, id := range []string{aliceID, bobID} {
		if rec := e.json("POST", "/api/v1/venues/"+bakery.ID+"/deputies", carol, map[string]string{"account_id": id}); rec.Code != 201 {
			t.Fatalf("deputy = %d %s", rec.Code, rec.Body)
		}
	}
	if rec := e.operator("DELETE", "/api/v1/admin/identities/"+bobID, map[string]string{"note": "误绑定，已核实"}); rec.Code != 200 {
		t.Fatalf("unbind = %d %s", rec.Code, rec.Body)
	}
	e.verifiedUser(t, "bob", aliceName, aliceNumber) // alice takes bob's old account
	bobNew, _ := e.verifiedUser(t, "bob-new", "王波", bobNumber)
	if rec := e.json("GET", "/api/v1/venues/"+bakery.ID+"/checkins", bobNew, nil); rec.Code != 200 {
		t.Errorf("bob's register on his new phone = %d %s", rec.Code, rec.Body)
	}
}
