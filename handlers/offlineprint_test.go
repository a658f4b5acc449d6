package handlers

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"healthcode/models"
	"healthcode/models/fault"
)

// awaitImport polls an upload's import job until it finishes.
func (e *testEnv) awaitImport(t testing.TB, rec *httptest.ResponseRecorder) importView {
	t.Helper()
	job := decode[importResponse](t, rec, 202).Import
	for deadline := time.Now().Add(10 * time.Second); !(job.State == models.ImportDone || job.State == models.ImportRejected || job.State == models.ImportFailed); time.Sleep(5 * time.Millisecond) {
		job = decode[importResponse](t, e.do("GET", "/api/v1/admin/imports/"+job.ID, nil, "Authorization", "Operator "+testOperatorKey), 200).Import
		if time.Now().After(deadline) {
			t.Fatalf("import %s stuck in %s", job.ID, job.State)
		}
	}
	return job
}

// importDisability uploads the disability register and waits for its job.
func (e *testEnv) importDisability(t testing.TB, csv string) importView {
	t.Helper()
	return e.awaitImport(t, e.upload("/api/v1/admin/disability-register", csv))
}

// testKiosk registers a kiosk and returns a function that posts to it with
// its key, and its id.
func (e *testEnv) testKiosk(t testing.TB, name string) (id, key string) {
	t.Helper()
	reg := decode[struct{ ID, Key string }](t, e.operator("POST", "/api/v1/admin/kiosks", map[string]string{"name": name, "place": "徐汇区康健街道社区服务中心"}), 201)
	return reg.ID, reg.Key
}

// kioskPost posts body to a kiosk route with the kiosk's key.
func (e *testEnv) kioskPost(path, key string, body any) *httptest.ResponseRecorder {
	b, _ := json.Marshal(body)
	return e.do("POST", path, bytes.NewReader(b), "Content-Type", "application/json", "Authorization", "Kiosk "+key)
}

func TestDisabilityRegister(t *testing.T) { onEveryDriver(t, testDisabilityRegister) }

// testDisabilityRegister: a person on the register may hold an offline
// code whatever their age; a rejected file changes nothing; a re-import
// replaces the list, so a person left off it is refused again.
func testDisabilityRegister(t *testing.T, driver func(*testSetup)) {
	e := newTestEnv(t, driver)
	bob, _ := e.verifiedUser(t, "bob", "张伟", bobNumber) // 41
	_, key := e.testKiosk(t, "康健街道 1 号机")
	young := idNumber("31010419960315003") // 30
	card := map[string]string{"doc_type": "resident_id", "doc_number": young, "name": "李强"}
	preview := func() models.OfflinePreview {
		t.Helper()
		return decode[models.OfflinePreview](t, e.kioskPost("/api/v1/kiosk/offline-codes/preview", key, card), 200)
	}
	wantError(t, e.json("POST", "/api/v1/me/offline-code", bob, nil), 403, fault.CodeNotEligible)
	if p := preview(); p.Eligible {
		t.Errorf("preview before the register = %+v", p)
	}

	// A bad row rejects the file whole, naming the row and not its content.
	bad := e.importDisability(t, "doc_type,doc_number\nresident_id,"+bobNumber+"\nresident_id,310104199603150099\n")
	if bad.State != models.ImportRejected || bad.BadRows != 1 || len(bad.Errors) != 1 || bad.Errors[0].Row != 3 {
		t.Errorf("bad register = %+v", bad)
	}
	wantError(t, e.json("POST", "/api/v1/me/offline-code", bob, nil), 403, fault.CodeNotEligible)

	done := e.importDisability(t, "doc_type,doc_number\nresident_id,"+bobNumber+"\nresident_id,"+strings.ToLower(young)+"\n")
	if done.State != models.ImportDone || done.RowsApplied != 2 || done.Source != models.ImportKindDisability {
		t.Fatalf("register = %+v", done)
	}
	paper := decode[offlineCodeResponse](t, e.json("POST", "/api/v1/me/offline-code", bob, nil), 201)
	if paper.MaskedName != "张*" || paper.Serial != 1 {
		t.Errorf("bob's paper = %+v", paper)
	}
	if p := preview(); !p.Eligible || p.Reason != "" {
		t.Errorf("preview on the register = %+v", p)
	}
	decode[offlineCodeResponse](t, e.kioskPost("/api/v1/kiosk/offline-codes", key, card), 201)

	// The authority's next list leaves both off: they are refused again.
	again := e.importDisability(t, "resident_id,"+carolNumber+"\n")
	if again.State != models.ImportDone || again.RowsApplied != 1 {
		t.Fatalf("second register = %+v", again)
	}
	wantError(t, e.json("POST", "/api/v1/me/offline-code", bob, nil), 403, fault.CodeNotEligible)
	wantError(t, e.kioskPost("/api/v1/kiosk/offline-codes", key, card), 403, fault.CodeNotEligible)
	if p := preview(); p.Eligible || !strings.Contains(p.Reason, "残疾人") {
		t.Errorf("preview after removal = %+v", p)
	}
	// Only the list in force is kept, as keyed hashes.
	var rows []models.DisabilityEntry
	if err := e.db.Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || len(rows[0].DocHash) != 32 || rows[0].Generation != again.ID {
		t.Errorf("register rows = %+v", rows)
	}
	audit, _ := e.store.AuditEntries(t.Context(), "disability.import", "")
	if len(audit) != 2 || audit[0].Actor == "" {
		t.Errorf("audit = %+v", audit)
	}
	for _, n := range []string{bobNumber, young, carolNumber} {
		if strings.Contains(e.allOutput(), n) {
			t.Errorf("document %s leaked", n[:4])
		}
	}
}

func TestOfflinePrintPage(t *testing.T) { onEveryDriver(t, testOfflinePrintPage) }

// testOfflinePrintPage opens the print page the three ways: by the
// print_url's ticket (the holder's code, then a relative's), with the
// page cookie, and by the issuing kiosk's key; each print is audited, and
// no page holds a full name or document number.
func testOfflinePrintPage(t *testing.T, driver func(*testSetup)) {
	e, alice := familyEnv(t, driver)
	paper := decode[offlineCodeResponse](t, e.json("POST", "/api/v1/me/offline-code", alice, nil), 201)
	if !strings.HasPrefix(paper.PrintURL, "/h5/offline/print?ticket=") {
		t.Fatalf("print_url = %q", paper.PrintURL)
	}
	wantPage := func(rec *httptest.ResponseRecorder, name, doc string, serial string) {
		t.Helper()
		body := rec.Body.String()
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("print page = %d %v %.300s", rec.Code, rec.Header(), body)
		}
		for _, want := range []string{"离线码", name, doc, "序号 " + serial, "本码不显示健康状态，扫码核验时显示实时状态，请配合出示身份证件", "@page", "<svg", "有效期至 2027年5月22日"} {
			if !strings.Contains(body, want) {
				t.Errorf("print page lacks %q", want)
			}
		}
	}

	// The ticket is traded for the page cookie; the layout survives.
	rec := e.do("GET", paper.PrintURL+"&layout=a4", nil)
	if rec.Code != 303 || rec.Header().Get("Location") != "/h5/offline/print?layout=a4" {
		t.Fatalf("redeem = %d %v", rec.Code, rec.Header())
	}
	cookie := pageCookie + "=" + rec.Result().Cookies()[0].Value
	page := e.do("GET", "/h5/offline/print?layout=a4", nil, "Cookie", cookie)
	wantPage(page, "欧阳**", paper.MaskedDoc, "1")
	if !strings.Contains(page.Body.String(), "size: 210mm 297mm") || !strings.Contains(page.Body.String(), "裁切线") {
		t.Error("the A4 sheet has no A4 page size or no cut marks")
	}
	if a6 := e.do("GET", "/h5/offline/print", nil, "Cookie", cookie); !strings.Contains(a6.Body.String(), "size: 105mm 148mm") {
		t.Errorf("the default layout is not the A6 card: %d", a6.Code)
	}
	// A used ticket, none, another page's cookie, a bad layout.
	if again := e.do("GET", paper.PrintURL, nil); again.Code != 401 {
		t.Errorf("a used ticket opened the page: %d", again.Code)
	}
	if none := e.do("GET", "/h5/offline/print", nil); none.Code != 401 || strings.Contains(none.Body.String(), "<svg") {
		t.Errorf("no cookie: %d", none.Code)
	}
	codeTicket := decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", alice, nil), 201)
	codeCookie := pageCookie + "=" + e.do("GET", codeTicket.URL, nil).Result().Cookies()[0].Value
	if other := e.do("GET", "/h5/offline/print", nil, "Cookie", codeCookie); other.Code != 401 {
		t.Errorf("the code page's cookie opened the print page: %d", other.Code)
	}
	wantError(t, e.do("GET", "/h5/offline/print?layout=a3", nil, "Cookie", cookie), 400, "invalid_layout")

	// A ticket asked for separately, for an elder relative's paper.
	mother := decode[relativeView](t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 201)
	wantError(t, e.json("POST", "/api/v1/h5/tickets", alice, map[string]string{"purpose": "offline_print", "relative_id": "nope"}), 404, fault.CodeRelativeNotFound)
	relTicket := decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", alice, map[string]string{"purpose": "offline_print", "relative_id": mother.ID}), 201)
	relCookie := pageCookie + "=" + e.do("GET", relTicket.URL, nil).Result().Cookies()[0].Value
	// No paper yet: the page says so and prints nothing.
	if none := e.do("GET", "/h5/offline/print", nil, "Cookie", relCookie); none.Code != 404 || strings.Contains(none.Body.String(), "<svg") {
		t.Errorf("relative without a paper: %d", none.Code)
	}
	rel := decode[offlineCodeResponse](t, e.json("POST", "/api/v1/relatives/"+mother.ID+"/offline-code", alice, nil), 201)
	wantPage(e.do("GET", "/h5/offline/print", nil, "Cookie", relCookie), "李*", rel.MaskedDoc, "1")
	// After a reissue the page prints the new serial.
	decode[offlineCodeResponse](t, e.json("POST", "/api/v1/me/offline-code", alice, nil), 201)
	wantPage(e.do("GET", "/h5/offline/print", nil, "Cookie", cookie), "欧阳**", paper.MaskedDoc, "2")

	// A kiosk fetches the page of what it issued with its key, and nothing else.
	kioskID, key := e.testKiosk(t, "康健街道 1 号机")
	_, otherKey := e.testKiosk(t, "康健街道 2 号机")
	elder := idNumber("31010419610315002")
	got := decode[offlineCodeResponse](t, e.kioskPost("/api/v1/kiosk/offline-codes", key, map[string]string{"doc_type": "resident_id", "doc_number": elder, "name": "陈秀英"}), 201)
	if got.PrintURL != "/h5/offline/print?code="+got.ID {
		t.Fatalf("kiosk print_url = %q", got.PrintURL)
	}
	kioskGet := func(url, key string) *httptest.ResponseRecorder {
		return e.do("GET", url, nil, "Authorization", "Kiosk "+key)
	}
	wantPage(kioskGet(got.PrintURL+"&layout=a6", key), "陈**", got.MaskedDoc, "1")
	wantError(t, kioskGet(got.PrintURL, otherKey), 404, fault.CodeNoOfflineCode)
	wantError(t, kioskGet(got.PrintURL, "wrong-key"), 401, "kiosk_required")
	wantError(t, kioskGet("/h5/offline/print?code="+rel.ID, key), 404, fault.CodeNoOfflineCode)
	e.clock.Advance(models.KioskReprintWindow + time.Second)
	wantError(t, kioskGet(got.PrintURL, key), 404, fault.CodeNoOfflineCode)

	prints, _ := e.store.AuditEntries(t.Context(), "offline_code.print", "")
	byKiosk, byAccount := 0, 0
	for _, a := range prints {
		switch {
		case a.Actor == "kiosk:"+kioskID:
			byKiosk++
		case strings.HasPrefix(a.Actor, "account:"):
			byAccount++
		}
	}
	if byKiosk != 1 || byAccount != 4 {
		t.Errorf("prints audited: %d by the kiosk, %d by the account (want 1, 4): %+v", byKiosk, byAccount, prints)
	}
	for _, leak := range []string{aliceNumber, motherNumber, elder, aliceName, "陈秀英", "李梅"} {
		if strings.Contains(e.allOutput(), leak) {
			t.Errorf("%q leaked", leak[:3])
		}
	}
}

// A kiosk reads a card's birth date against today in the service's zone,
// whatever zone the clock's times come in (the system clock gives the
// machine's): at 22:00 in Shanghai a card born tomorrow there is refused,
// as the identity route refuses it, even where it is already tomorrow.
func TestKioskJudgesBirthDatesByTheServiceDay(t *testing.T) {
	kiritimati, err := time.LoadLocation("Pacific/Kiritimati") // UTC+14
	if err != nil {
		t.Fatal(err)
	}
	tenPM := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC).In(kiritimati) // 22:00 in Shanghai, 04:00 on the 24th there
	e := newTestEnv(t, func(s *testSetup) { s.start = tenPM })
	_, key := e.testKiosk(t, "康健街道一号机")
	card := func(number string) map[string]string {
		return map[string]string{"doc_type": "resident_id", "doc_number": number, "name": "陈小宝"}
	}
	tomorrow, today := idNumber("31010420261124003"), idNumber("31010420261123003")
	wantError(t, e.kioskPost("/api/v1/kiosk/offline-codes/preview", key, card(tomorrow)), 400, fault.CodeDocBirthDate)
	wantError(t, e.kioskPost("/api/v1/kiosk/offline-codes", key, card(tomorrow)), 400, fault.CodeDocBirthDate)
	if rec := e.kioskPost("/api/v1/kiosk/offline-codes", key, card(today)); rec.Code != 201 {
		t.Errorf("a card born today = %d %s", rec.Code, rec.Body)
	}
}
