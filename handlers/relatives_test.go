package handlers

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http/httptest"
	"testing"
	"time"

	"healthcode/models"
	"healthcode/models/codetoken"
	"healthcode/models/document"
	"healthcode/models/fault"
	"healthcode/models/store"
)

// idNumber makes a valid resident ID from its first 17 digits.
func idNumber(first17 string) string { return first17 + string(document.CheckDigit(first17)) }

var (
	motherNumber = idNumber("11010519600101024")
	fatherNumber = idNumber("11010519580303011")
	sonNumber    = idNumber("11010520150505031")
	bobNumber    = idNumber("31011519850707041")
)

// onEveryDriver runs a test on SQLite and on MariaDB/MySQL.
func onEveryDriver(t *testing.T, test func(*testing.T, func(*testSetup))) {
	for _, driver := range []string{"sqlite", "mysql"} {
		t.Run(driver, func(t *testing.T) { test(t, func(s *testSetup) { s.driver = driver }) })
	}
}

// upload posts a CSV file to an operator route.
func (e *testEnv) upload(route, csv string, fields ...string) *httptest.ResponseRecorder {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for i := 0; i+1 < len(fields); i += 2 {
		w.WriteField(fields[i], fields[i+1])
	}
	f, _ := w.CreateFormFile("file", "data.csv")
	f.Write([]byte(csv))
	w.Close()
	return e.do("POST", route, &body, "Content-Type", w.FormDataContentType(), "Authorization", "Operator "+testOperatorKey)
}

func (e *testEnv) operator(method, path string, body any) *httptest.ResponseRecorder {
	var r *bytes.Reader
	if body != nil {
		r = bytes.NewReader(mustJSON(body))
	} else {
		r = bytes.NewReader(nil)
	}
	return e.do(method, path, r, "Content-Type", "application/json", "Authorization", "Operator "+testOperatorKey)
}

func (e *testEnv) addRelative(token, name, docType, number, relation string) *httptest.ResponseRecorder {
	return e.json("POST", "/api/v1/relatives", token, map[string]string{"name": name, "doc_type": docType, "doc_number": number, "relation": relation})
}

// familyEnv is alice, face-verified, with the city's reference data loaded:
// alice and her mother share a household; alice is the parent of a child
// without an ID and of her son.
func familyEnv(t testing.TB, changes ...func(*testSetup)) (*testEnv, string) {
	e := newTestEnv(t, changes...)
	alice, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	rec := e.upload("/api/v1/admin/households", "household_id,doc_type,doc_number\nH-001,resident_id,"+aliceNumber+"\nH-001,resident_id,"+motherNumber+"\nH-002,resident_id,"+bobNumber+"\n")
	if rec.Code != 201 {
		t.Fatalf("households = %d %s", rec.Code, rec.Body)
	}
	rec = e.upload("/api/v1/admin/birth-records", "birth_certificate,child_doc_type,child_doc_number,parent_doc_type,parent_doc_number\n"+
		"O440012345,,,resident_id,"+aliceNumber+"\nO440012346,resident_id,"+sonNumber+",resident_id,"+aliceNumber+"\n")
	if rec.Code != 201 {
		t.Fatalf("births = %d %s", rec.Code, rec.Body)
	}
	return e, alice
}

func TestRelativesApprovedByReferenceData(t *testing.T) {
	onEveryDriver(t, testRelativesApprovedByReferenceData)
}

func testRelativesApprovedByReferenceData(t *testing.T, driver func(*testSetup)) {
	e, alice := familyEnv(t, driver)

	mother := decode[relativeView](t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 201)
	if mother.Status != "approved" || mother.Evidence != "household" || mother.MaskedName != "李*" || mother.MaskedDoc != "11**************"+motherNumber[16:] || mother.ReviewDueAt != nil {
		t.Errorf("mother = %+v", mother)
	}
	baby := decode[relativeView](t, e.addRelative(alice, "欧阳小宝", "birth_certificate", "o440012345", "child"), 201)
	if baby.Status != "approved" || baby.Evidence != "birth_record" || baby.DocType != "birth_certificate" {
		t.Errorf("child without an ID = %+v", baby)
	}
	son := decode[relativeView](t, e.addRelative(alice, "欧阳小明", "resident_id", sonNumber, "child"), 201)
	if son.Status != "approved" || son.Evidence != "birth_record" {
		t.Errorf("son = %+v", son)
	}
	// A birth record proves child ↔ parent only, not any relation.
	if got := decode[relativeView](t, e.addRelative(alice, "欧阳小明", "resident_id", sonNumber, "child"), 409); got.ID != "" {
		t.Error("the same relative twice was accepted")
	}

	// Proxy lookup and code, each audited once.
	status := decode[relativeStatusResponse](t, e.json("GET", "/api/v1/relatives/"+mother.ID+"/status", alice, nil), 200)
	if status.Colour != "green" || status.MaskedName != "李*" || status.ValidUntil == "" {
		t.Errorf("status = %+v", status)
	}
	code := decode[codeResponse](t, e.json("GET", "/api/v1/relatives/"+mother.ID+"/code", alice, nil), 200)
	claims, err := codetoken.Parse(code.QR, e.keys.ForIssuer("310000"))
	sess, _ := e.sessions.Verify(alice)
	if err != nil || claims.Kind != "relative" || claims.Holder != sess.AccountID || claims.Link != mother.ID || claims.Subject == sess.PersonID || code.MaskedName != "李*" {
		t.Errorf("relative code: %+v, %v", claims, err)
	}
	e.json("GET", "/api/v1/relatives/"+mother.ID+"/status", alice, nil)
	for action, want := range map[string]int{"relative.lookup": 2, "relative.code": 1} {
		if got, _ := e.store.AuditEntries(t.Context(), action, mother.ID); len(got) != want {
			t.Errorf("%d %s audit entries, want %d", len(got), action, want)
		}
	}

	// The mother's colour changes: the proxy lookup shows it.
	e.importListDone(t, "community", "resident_id,"+motherNumber+",yellow,居家\n")
	if got := decode[relativeStatusResponse](t, e.json("GET", "/api/v1/relatives/"+mother.ID+"/status", alice, nil), 200); got.Colour != "yellow" {
		t.Errorf("after a new list: %s", got.Colour)
	}

	// The name must match the person on record, without saying which part is wrong.
	wantError(t, e.addRelative(alice, "王芳", "resident_id", motherNumber, "parent"), 400, fault.CodeNameMismatch)
	wantError(t, e.addRelative(alice, aliceName, "resident_id", aliceNumber, "other"), 400, "relative_is_self")
	wantError(t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "cousin"), 400, "invalid_relation")

	list := decode[struct{ Relatives []relativeView }](t, e.json("GET", "/api/v1/relatives", alice, nil), 200)
	if len(list.Relatives) != 3 {
		t.Errorf("%d relatives listed", len(list.Relatives))
	}
}

func TestRelativeManualReview(t *testing.T) {
	onEveryDriver(t, testRelativeManualReview)
}

func testRelativeManualReview(t *testing.T, driver func(*testSetup)) {
	e, alice := familyEnv(t, driver)
	spouse := decode[relativeView](t, e.addRelative(alice, "张伟", "resident_id", fatherNumber, "spouse"), 201)
	if spouse.Status != "pending" || spouse.Evidence != "manual" {
		t.Fatalf("spouse = %+v", spouse)
	}
	if spouse.ReviewDueAt == nil {
		t.Fatal("a pending link without review_due_at")
	}
	due, _ := time.Parse(time.RFC3339, *spouse.ReviewDueAt)
	if !due.Equal(e.clock.Now().Add(24 * time.Hour)) {
		t.Errorf("review due %s, want 24 h from now", *spouse.ReviewDueAt)
	}
	wantError(t, e.json("GET", "/api/v1/relatives/"+spouse.ID+"/code", alice, nil), 403, fault.CodeRelativePending)
	wantError(t, e.json("GET", "/api/v1/relatives/"+spouse.ID+"/status", alice, nil), 403, fault.CodeRelativePending)

	e.clock.Advance(time.Minute)
	other := decode[relativeView](t, e.addRelative(alice, "赵六", "passport", "E99887766", "other"), 201)

	e.clock.Advance(25 * time.Hour)
	alice, _ = e.verifiedUser(t, "alice", aliceName, aliceNumber) // a new day, a new face check
	reviews := decode[struct{ Reviews []reviewView }](t, e.operator("GET", "/api/v1/admin/relative-reviews?status=pending", nil), 200).Reviews
	if len(reviews) != 2 || reviews[0].ID != spouse.ID || reviews[1].ID != other.ID || !reviews[0].Overdue || reviews[0].HolderMaskedName != "欧阳**" || reviews[0].MaskedName != "张*" {
		t.Fatalf("reviews = %+v", reviews)
	}
	wantError(t, e.json("GET", "/api/v1/admin/relative-reviews", alice, nil), 401, "operator_required")

	// The applicant is shown the note as typed: a document number in it,
	// however written, is refused and nothing is decided.
	wantError(t, e.operator("POST", "/api/v1/admin/relative-reviews/"+spouse.ID, map[string]string{"decision": "approve", "note": "已核对 " + aliceNumber[:6] + " " + aliceNumber[6:]}), 400, fault.CodeNoteHasDocument)
	if rec := e.operator("POST", "/api/v1/admin/relative-reviews/"+spouse.ID, map[string]string{"decision": "approve", "note": "结婚证已核验"}); rec.Code != 200 {
		t.Fatalf("approve = %d %s", rec.Code, rec.Body)
	}
	if rec := e.operator("POST", "/api/v1/admin/relative-reviews/"+other.ID, map[string]string{"decision": "reject", "note": "无法证明亲属关系"}); rec.Code != 200 {
		t.Fatalf("reject = %d %s", rec.Code, rec.Body)
	}
	wantError(t, e.operator("POST", "/api/v1/admin/relative-reviews/"+other.ID, map[string]string{"decision": "approve"}), 409, "review_closed")
	wantError(t, e.operator("POST", "/api/v1/admin/relative-reviews/"+other.ID, map[string]string{"decision": "maybe"}), 400, "invalid_decision")

	// The applicant sees each decision and its note.
	list := decode[struct{ Relatives []relativeView }](t, e.json("GET", "/api/v1/relatives", alice, nil), 200).Relatives
	byID := map[string]relativeView{}
	for _, r := range list {
		byID[r.ID] = r
	}
	if r := byID[spouse.ID]; r.Status != "approved" || r.Note != "结婚证已核验" || r.DecidedAt == "" {
		t.Errorf("approved link = %+v", r)
	}
	if r := byID[other.ID]; r.Status != "rejected" || r.Note != "无法证明亲属关系" {
		t.Errorf("rejected link = %+v", r)
	}
	decode[codeResponse](t, e.json("GET", "/api/v1/relatives/"+spouse.ID+"/code", alice, nil), 200)
	wantError(t, e.json("GET", "/api/v1/relatives/"+other.ID+"/code", alice, nil), 403, fault.CodeRelativeRejected)
	if got, _ := e.store.AuditEntries(t.Context(), "relative.review", ""); len(got) != 2 {
		t.Errorf("%d review audit entries, want 2", len(got))
	}
	if got, _ := e.store.AuditEntries(t.Context(), "relative.review_list", ""); len(got) != 1 {
		t.Errorf("%d review-list audit entries, want 1", len(got))
	}
}

func TestRelativeAuthorizationMatrix(t *testing.T) {
	e, alice := familyEnv(t)
	mother := decode[relativeView](t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 201)
	bob, _ := e.verifiedUser(t, "bob", "王强", bobNumber)

	// Another account's link does not exist for bob: 404, never 403.
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/relatives/" + mother.ID + "/status"},
		{"GET", "/api/v1/relatives/" + mother.ID + "/code"},
		{"DELETE", "/api/v1/relatives/" + mother.ID},
	} {
		wantError(t, e.json(c.method, c.path, bob, nil), 404, fault.CodeRelativeNotFound)
	}
	wantError(t, e.json("POST", "/api/v1/h5/tickets", bob, map[string]string{"relative_id": mother.ID}), 404, fault.CodeRelativeNotFound)
	if list := decode[struct{ Relatives []relativeView }](t, e.json("GET", "/api/v1/relatives", bob, nil), 200); len(list.Relatives) != 0 {
		t.Errorf("bob sees %d relatives", len(list.Relatives))
	}
	// Without evidence, bob's claim on alice's mother goes to review.
	claim := decode[relativeView](t, e.addRelative(bob, "李梅", "resident_id", motherNumber, "parent"), 201)
	if claim.Status != "pending" || claim.Evidence != "manual" {
		t.Errorf("an unproven claim = %+v, want pending review", claim)
	}
	wantError(t, e.json("GET", "/api/v1/relatives/"+claim.ID+"/code", bob, nil), 403, fault.CodeRelativePending)
	// Nothing changed for alice.
	if rec := e.json("GET", "/api/v1/relatives/"+mother.ID+"/status", alice, nil); rec.Code != 200 {
		t.Errorf("alice's lookup = %d", rec.Code)
	}
	if got, _ := e.store.AuditEntries(t.Context(), "relative.lookup", mother.ID); len(got) != 1 {
		t.Errorf("%d lookups audited, want alice's one", len(got))
	}

	// A caller without today's face check cannot add or look up.
	e.clock.Advance(24 * time.Hour)
	wantError(t, e.json("GET", "/api/v1/relatives/"+mother.ID+"/status", alice, nil), 403, fault.CodeFaceRequired)
	wantError(t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 403, fault.CodeFaceRequired)
}

func TestDeletedLinkRevokesItsCodes(t *testing.T) {
	onEveryDriver(t, testDeletedLinkRevokesItsCodes)
}

func testDeletedLinkRevokesItsCodes(t *testing.T, driver func(*testSetup)) {
	e, alice := familyEnv(t, driver)
	mother := decode[relativeView](t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 201)
	code := decode[codeResponse](t, e.json("GET", "/api/v1/relatives/"+mother.ID+"/code", alice, nil), 200)
	staff := e.makeVerifier(t, "staff", "王小明", staffNumber)

	got := decode[verifyBody](t, e.json("POST", "/api/v1/verify", staff, map[string]string{"qr": code.QR}), 200)
	if got.Result != "valid" || got.Kind != "relative" || got.MaskedName != "李*" {
		t.Fatalf("before deletion: %+v", got)
	}
	if rec := e.json("DELETE", "/api/v1/relatives/"+mother.ID, alice, nil); rec.Code != 200 {
		t.Fatalf("delete = %d %s", rec.Code, rec.Body)
	}
	got = decode[verifyBody](t, e.json("POST", "/api/v1/verify", staff, map[string]string{"qr": code.QR}), 200)
	if got.Result != "revoked" || got.MaskedName != "" || got.Colour != "" {
		t.Errorf("after deletion: %+v, want revoked without holder data", got)
	}
	wantError(t, e.json("GET", "/api/v1/relatives/"+mother.ID+"/code", alice, nil), 403, fault.CodeRelativeDeleted)
	wantError(t, e.json("DELETE", "/api/v1/relatives/"+mother.ID, alice, nil), 403, fault.CodeRelativeDeleted)
	// Re-adding makes a new link; the old code stays revoked.
	again := decode[relativeView](t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 201)
	if again.ID == mother.ID || again.Status != "approved" {
		t.Errorf("re-added = %+v", again)
	}
	if got := decode[verifyBody](t, e.json("POST", "/api/v1/verify", staff, map[string]string{"qr": code.QR}), 200); got.Result != "revoked" {
		t.Errorf("old code after re-adding: %s", got.Result)
	}
}

func TestRelativeLimitAndCodePage(t *testing.T) {
	e, alice := familyEnv(t, func(s *testSetup) { s.cfg.RateLimit.IdentityPerMinuteUser = 100 })
	mother := decode[relativeView](t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 201)
	for i := 1; i < models.MaxRelatives; i++ {
		decode[relativeView](t, e.addRelative(alice, "亲属"+string(rune('甲'+i)), "passport", fmt.Sprintf("G%08d", i), "other"), 201)
	}
	var persons int64
	e.db.Table("persons").Count(&persons)
	wantError(t, e.addRelative(alice, "多余", "passport", "G99999999", "other"), 409, "relative_limit")
	// The refused link left no person behind.
	var after int64
	if e.db.Table("persons").Count(&after); after != persons {
		t.Errorf("a refused link registered a person: %d → %d", persons, after)
	}

	ticket := decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", alice, map[string]string{"relative_id": mother.ID}), 201)
	rec := e.do("GET", ticket.URL, nil)
	cookie := rec.Result().Cookies()[0]
	page := decode[pageCodeResponse](t, e.do("GET", "/h5/api/code", nil, "Cookie", pageCookie+"="+cookie.Value), 200)
	if page.Kind != "relative" || page.MaskedName != "李*" {
		t.Errorf("relative code page = %+v", page.codeResponse)
	}
	// The page says whose code it is: the relation and the holder.
	if page.Relation != "parent" || page.RelationText != "父母" || page.HolderMaskedName != "欧阳**" {
		t.Errorf("relative code page relation %q %q, holder %q", page.Relation, page.RelationText, page.HolderMaskedName)
	}
	own := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", alice, nil), 200)
	if own.Relation != "" || own.RelationText != "" || own.HolderMaskedName != "" {
		t.Errorf("one's own code carries a relation: %+v", own)
	}
	if got, _ := e.store.AuditEntries(t.Context(), "relative.code", mother.ID); len(got) != 1 {
		t.Errorf("%d code audits", len(got))
	}
}

func TestReferenceImportsRejectBadRows(t *testing.T) {
	e, _ := familyEnv(t)
	wantError(t, e.upload("/api/v1/admin/households", "H-9,resident_id,"+aliceNumber+"\n,resident_id,"+motherNumber+"\n"), 400, fault.CodeImportRejected)
	wantError(t, e.upload("/api/v1/admin/birth-records", "12345,,,resident_id,"+aliceNumber+"\n"), 400, fault.CodeImportRejected)
	// The registers in force are untouched: the household still proves the link.
	alice, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	if got := decode[relativeView](t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 201); got.Evidence != "household" {
		t.Errorf("after refused imports: %+v", got)
	}
}

// A name someone typed for a document (a relative's form, a stranger's
// claim) yields to the name the owner's face check confirms; a claim alone
// renames nobody, and a relative's form must then match the confirmed name.
func TestUnconfirmedNameYieldsToTheOwner(t *testing.T) {
	e, alice := familyEnv(t)
	typo := decode[relativeView](t, e.addRelative(alice, "李梅梅", "resident_id", motherNumber, "parent"), 201)
	if typo.MaskedName != "李**" {
		t.Fatalf("typo = %+v", typo)
	}
	// A stranger's claim under another name changes nothing.
	e.bind(t, e.sandboxLogin(t, "stranger").Token, "王芳", "resident_id", motherNumber)
	relativeName := func() string {
		list := decode[struct{ Relatives []relativeView }](t, e.json("GET", "/api/v1/relatives", alice, nil), 200).Relatives
		if len(list) != 1 {
			t.Fatalf("alice's relatives = %+v", list)
		}
		return list[0].MaskedName
	}
	if got := relativeName(); got != "李**" {
		t.Errorf("after a stranger's claim the relative shows %q", got)
	}
	// The mother claims her own document with her real name and passes.
	e.verifiedUser(t, "mom", "李梅", motherNumber)
	if got := relativeName(); got != "李*" {
		t.Errorf("after the owner bound, the relative shows %q", got)
	}
	bob, _ := e.verifiedUser(t, "bob", "王强", bobNumber)
	wantError(t, e.addRelative(bob, "李梅梅", "resident_id", motherNumber, "parent"), 400, fault.CodeNameMismatch)
	var verified int64
	e.db.Table("persons").Where("name_verified_at IS NOT NULL").Count(&verified)
	if verified != 3 { // alice, mom and bob passed face verification
		t.Errorf("%d persons with a confirmed name, want 3", verified)
	}
}

// A relative link that ended (deleted by its holder, rejected on review)
// is kept as long as the audit that names it, then purged; a live one
// stays.
func TestEndedRelativeLinksArePurged(t *testing.T) {
	e, alice := familyEnv(t)
	mother := decode[relativeView](t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 201)
	other := decode[relativeView](t, e.addRelative(alice, "赵六", "passport", "E99887766", "other"), 201)
	child := decode[relativeView](t, e.addRelative(alice, "张伟", "passport", "E87654321", "other"), 201)
	if rec := e.json("DELETE", "/api/v1/relatives/"+mother.ID, alice, nil); rec.Code != 200 {
		t.Fatalf("delete = %d", rec.Code)
	}
	if rec := e.operator("POST", "/api/v1/admin/relative-reviews/"+other.ID, map[string]string{"decision": "reject", "note": "无法证明亲属关系"}); rec.Code != 200 {
		t.Fatalf("reject = %d %s", rec.Code, rec.Body)
	}
	if rec := e.operator("POST", "/api/v1/admin/relative-reviews/"+child.ID, map[string]string{"decision": "approve", "note": "出生证明已核验"}); rec.Code != 200 {
		t.Fatalf("approve = %d %s", rec.Code, rec.Body)
	}
	cfg := e.api.cfg.Retention
	purge := func() {
		t.Helper()
		if _, err := e.store.Purge(t.Context(), store.RetentionPolicy{Scans: cfg.Scans.D(), Tickets: cfg.Tickets.D(), CheckIns: cfg.CheckIns.D(),
			Samples: cfg.Samples.D(), Audit: cfg.Audit.D(), SessionTTL: e.api.cfg.SessionTTL.D()}); err != nil {
			t.Fatal(err)
		}
	}
	left := func() []string {
		var ids []string
		e.db.Table("relatives").Order("id").Pluck("id", &ids)
		return ids
	}
	e.clock.Advance(cfg.Audit.D() - time.Hour)
	purge()
	if got := left(); len(got) != 3 {
		t.Fatalf("before the audit's retention: %d links left, want 3", len(got))
	}
	e.clock.Advance(2 * time.Hour)
	purge()
	if got := left(); len(got) != 1 || got[0] != child.ID {
		t.Errorf("after it: links %v left, want only the live one %s", got, child.ID)
	}
}
