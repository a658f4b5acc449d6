package handlers

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"healthcode/models"
	"healthcode/models/document"
	"healthcode/models/fault"
)

// makeSampler makes a face-verified account a sampler at a site.
func (e *testEnv) makeSampler(t testing.TB, user, name, number, site string) string {
	t.Helper()
	token, id := e.verifiedUser(t, user, name, number)
	if rec := e.operator("POST", "/api/v1/admin/samplers", map[string]string{"account_id": id, "site": site}); rec.Code != 201 {
		t.Fatalf("grant sampler = %d %s", rec.Code, rec.Body)
	}
	return token
}

// sample posts a registration into a tube.
func (e *testEnv) sample(token, tube string, body map[string]string) *httptest.ResponseRecorder {
	return e.json("POST", "/api/v1/sampling/tubes/"+tube+"/samples", token, body)
}

var samplerNumber = idNumber("31011519900202022")

// walkInNumbers are people registered by hand at the desk.
var walkInNumbers = func() []string {
	var out []string
	for i := range 6 {
		out = append(out, idNumber(fmt.Sprintf("31011519700101%03d", 11+2*i)))
	}
	return out
}()

func TestSamplingPoint(t *testing.T) { onEveryDriver(t, testSamplingPoint) }

func testSamplingPoint(t *testing.T, driver func(*testSetup)) {
	e, alice := familyEnv(t, driver)
	bob, _ := e.verifiedUser(t, "bob", "王波", bobNumber)
	mother := decode[relativeView](t, e.addRelative(alice, "李梅", "resident_id", motherNumber, "parent"), 201)
	son := decode[relativeView](t, e.addRelative(alice, "欧阳小明", "resident_id", sonNumber, "child"), 201)

	// Only samplers sample.
	wantError(t, e.json("POST", "/api/v1/sampling/tubes", alice, map[string]any{"tube": "T-00000001", "mode": 10}), 403, fault.CodeNotSampler)
	staff := e.makeSampler(t, "sampler", "张采样", samplerNumber, "徐汇区康健街道采样点")

	got := e.json("POST", "/api/v1/sampling/tubes", staff, map[string]any{"tube": "T-00000001", "mode": 10})
	if got.Code != 201 || got.Body.String() != `{"tube":"T-00000001","mode":10,"site":"徐汇区康健街道采样点","count":0,"state":"open"}` {
		t.Fatalf("open = %d %s", got.Code, got.Body)
	}
	wantError(t, e.json("POST", "/api/v1/sampling/tubes", staff, map[string]any{"tube": "T-00000001", "mode": 10}), 409, fault.CodeTubeExists)
	wantError(t, e.json("POST", "/api/v1/sampling/tubes", staff, map[string]any{"tube": "T-1", "mode": 10}), 400, "invalid_tube")
	wantError(t, e.json("POST", "/api/v1/sampling/tubes", staff, map[string]any{"tube": "T-00000009", "mode": 5}), 400, "invalid_mode")

	// Ten people: a 核酸码, a relative's 核酸码, a relative's dynamic code, a
	// personal dynamic code, and six by hand (one a passport).
	codes := []string{
		decode[nucleicCodeResponse](t, e.json("GET", "/api/v1/me/nucleic-code", alice, nil), 200).QR,
		decode[nucleicCodeResponse](t, e.json("GET", "/api/v1/relatives/"+mother.ID+"/nucleic-code", alice, nil), 200).QR,
		decode[codeResponse](t, e.json("GET", "/api/v1/relatives/"+son.ID+"/code", alice, nil), 200).QR,
		decode[codeResponse](t, e.json("GET", "/api/v1/me/code", bob, nil), 200).QR,
	}
	var answers []sampleResponse
	for i, qr := range codes {
		answers = append(answers, decode[sampleResponse](t, e.sample(staff, "T-00000001", map[string]string{"sample_id": fmt.Sprintf("s-code-%04d", i), "qr": qr}), 201))
	}
	manual := []map[string]string{{"doc_type": "passport", "doc_number": "e12345678", "name": "John Smith"}}
	for i, n := range walkInNumbers[:5] {
		manual = append(manual, map[string]string{"doc_type": "resident_id", "doc_number": n, "name": fmt.Sprintf("赵%s", strings.Repeat("一", i+1))})
	}
	for i, m := range manual {
		m["sample_id"] = fmt.Sprintf("s-hand-%04d", i)
		answers = append(answers, decode[sampleResponse](t, e.sample(staff, "T-00000001", m), 201))
	}
	for i, a := range answers {
		if a.Count != i+1 || a.Tube != "T-00000001" || a.MaskedName == "" {
			t.Errorf("answer %d = %+v", i, a)
		}
	}
	if answers[0].MaskedName != "欧阳**" || answers[1].MaskedName != "李*" || answers[4].MaskedName != "J***" || answers[4].MaskedDoc != "E1******8" {
		t.Errorf("masked = %+v %+v %+v", answers[0], answers[1], answers[4])
	}

	// A resend answers the same and changes nothing; full, duplicate, garbage.
	again := e.sample(staff, "T-00000001", map[string]string{"sample_id": "s-code-0000", "qr": codes[0]})
	if again.Code != 200 || again.Body.String() != string(mustJSON(answers[0])) {
		t.Errorf("resend = %d %s, want 200 %s", again.Code, again.Body, mustJSON(answers[0]))
	}
	wantError(t, e.sample(staff, "T-00000001", map[string]string{"sample_id": "s-hand-0099", "doc_type": "resident_id", "doc_number": walkInNumbers[5], "name": "钱多"}), 409, fault.CodeTubeFull)
	wantError(t, e.sample(staff, "T-00000001", map[string]string{"sample_id": "s-hand-0098"}), 400, "person_required")
	wantError(t, e.sample(staff, "T-00000001", map[string]string{"sample_id": "s-bad-0001", "qr": "HC1JKM:not a code"}), 400, "invalid_code")
	wantError(t, e.sample(staff, "T-NOPE0001", map[string]string{"sample_id": "s-bad-0002", "qr": codes[0]}), 404, fault.CodeTubeNotFound)
	wantError(t, e.sample(staff, "T-00000001", map[string]string{"sample_id": "x", "qr": codes[0]}), 400, "invalid_sample_id")

	// A second, mixed tube: alice again (another open tube within the hour:
	// allowed, flagged), twice (refused), then sealed short.
	decode[openTubeResponse](t, e.json("POST", "/api/v1/sampling/tubes", staff, map[string]any{"tube": "T-00000002", "mode": 20}), 201)
	decode[sampleResponse](t, e.sample(staff, "T-00000002", map[string]string{"sample_id": "s-two-0001", "qr": codes[0]}), 201)
	wantError(t, e.sample(staff, "T-00000002", map[string]string{"sample_id": "s-two-0002", "qr": codes[0]}), 409, fault.CodeAlreadyInTube)
	decode[sampleResponse](t, e.sample(staff, "T-00000002", map[string]string{"sample_id": "s-two-0003", "doc_type": "resident_id", "doc_number": walkInNumbers[5], "name": "钱多"}), 201)
	seal := e.json("POST", "/api/v1/sampling/tubes/T-00000002/seal", staff, nil)
	if seal.Code != 200 || seal.Body.String() != `{"tube":"T-00000002","count":2,"state":"sealed","short":true}` {
		t.Errorf("seal = %d %s", seal.Code, seal.Body)
	}
	wantError(t, e.sample(staff, "T-00000002", map[string]string{"sample_id": "s-two-0004", "qr": codes[1]}), 409, fault.CodeTubeSealed)
	// Sealing the full tube: not short.
	if seal := decode[sealResponse](t, e.json("POST", "/api/v1/sampling/tubes/T-00000001/seal", staff, nil), 200); seal.Short || seal.Count != 10 {
		t.Errorf("seal full = %+v", seal)
	}

	tube := decode[tubeView](t, e.json("GET", "/api/v1/sampling/tubes/T-00000002", staff, nil), 200)
	if len(tube.Samples) != 2 || !tube.Samples[0].Resampled || tube.Samples[1].Resampled || tube.Samples[0].Method != "nucleic" || tube.Samples[1].Method != "manual" || tube.State != "sealed" || !tube.Short {
		t.Errorf("tube = %+v", tube)
	}
	first := decode[tubeView](t, e.json("GET", "/api/v1/sampling/tubes/T-00000001", staff, nil), 200)
	methods := []string{}
	for _, s := range first.Samples {
		methods = append(methods, s.Method)
	}
	if strings.Join(methods, ",") != "nucleic,nucleic,relative,personal,manual,manual,manual,manual,manual,manual" {
		t.Errorf("methods = %v", methods)
	}
	sum := decode[summaryResponse](t, e.json("GET", "/api/v1/sampling/summary", staff, nil), 200)
	if sum.Date != "2026-11-23" || len(sum.Tubes) != 2 || sum.Samples != 12 || sum.Sealed != 2 || sum.Open != 0 {
		t.Errorf("summary = %+v", sum)
	}
	if other := decode[summaryResponse](t, e.json("GET", "/api/v1/sampling/summary?date=2026-11-22", staff, nil), 200); len(other.Tubes) != 0 {
		t.Errorf("yesterday = %+v", other)
	}
	wantError(t, e.json("GET", "/api/v1/sampling/summary?date=tomorrow", staff, nil), 400, "invalid_date")

	// A screenshot of a dynamic code is refused; a 核酸码 a minute on is fine.
	decode[openTubeResponse](t, e.json("POST", "/api/v1/sampling/tubes", staff, map[string]any{"tube": "T-00000003", "mode": 1}), 201)
	e.clock.Advance(2 * time.Minute)
	wantError(t, e.sample(staff, "T-00000003", map[string]string{"sample_id": "s-three-001", "qr": codes[3]}), 400, "expired")
	decode[sampleResponse](t, e.sample(staff, "T-00000003", map[string]string{"sample_id": "s-three-002", "qr": codes[1]}), 201)
	// The resend of a dynamic code registered while live still answers.
	if rec := e.sample(staff, "T-00000001", map[string]string{"sample_id": "s-code-0003", "qr": codes[3]}); rec.Code != 200 {
		t.Errorf("resend after expiry = %d %s", rec.Code, rec.Body)
	}

	var rows int64
	e.db.Model(&models.Sample{}).Count(&rows)
	if rows != 13 {
		t.Errorf("%d sample rows, want 13", rows)
	}
	for _, n := range append([]string{aliceNumber, motherNumber, sonNumber, bobNumber}, walkInNumbers...) {
		if strings.Contains(e.allOutput(), n) {
			t.Fatal("a document number leaked")
		}
	}
	// Another site's sampler resending this site's sample id gets nothing of it.
	other := e.makeSampler(t, "sampler2", "李采样", idNumber("31011519900303033"), "闵行区采样点")
	decode[openTubeResponse](t, e.json("POST", "/api/v1/sampling/tubes", other, map[string]any{"tube": "T-00000009", "mode": 10}), 201)
	wantError(t, e.sample(other, "T-00000009", map[string]string{"sample_id": "s-code-0000", "qr": codes[0]}), 409, "sample_id_taken")
	if rec := e.sample(other, "T-00000009", map[string]string{"sample_id": "s-code-0003", "qr": codes[3]}); rec.Code == 200 || strings.Contains(rec.Body.String(), "masked_name") {
		t.Errorf("another site's resend after expiry = %d %s", rec.Code, rec.Body)
	}
	// Revoked samplers are refused.
	sess, _ := e.sessions.Verify(staff)
	if rec := e.operator("DELETE", "/api/v1/admin/samplers/"+sess.AccountID, nil); rec.Code != 200 {
		t.Fatalf("revoke = %d %s", rec.Code, rec.Body)
	}
	wantError(t, e.json("GET", "/api/v1/sampling/summary", staff, nil), 403, fault.CodeNotSampler)
	for _, action := range []string{"sampler.grant", "sampler.revoke"} {
		if audit, _ := e.store.AuditEntries(t.Context(), action, sess.AccountID); len(audit) != 1 {
			t.Errorf("%d %s audit entries", len(audit), action)
		}
	}
}

// Concurrent registrations into one tube never overfill it, and concurrent
// resends of one sample id make one record.
func TestConcurrentSamplesRespectCapacity(t *testing.T) {
	onEveryDriver(t, func(t *testing.T, driver func(*testSetup)) {
		e := newTestEnv(t, driver)
		staff := e.makeSampler(t, "sampler", "张采样", samplerNumber, "采样点")
		decode[openTubeResponse](t, e.json("POST", "/api/v1/sampling/tubes", staff, map[string]any{"tube": "T-00000001", "mode": 10}), 201)
		var wg sync.WaitGroup
		codesSeen := make(chan int, 40)
		for i := range 20 {
			for range 2 { // each sample twice
				wg.Add(1)
				go func() {
					defer wg.Done()
					n := idNumber(fmt.Sprintf("31011519800101%03d", 11+2*i))
					rec := e.sample(staff, "T-00000001", map[string]string{"sample_id": fmt.Sprintf("s-conc-%04d", i), "doc_type": "resident_id", "doc_number": n, "name": "孙" + strings.Repeat("二", 1+i%3)})
					codesSeen <- rec.Code
				}()
			}
		}
		wg.Wait()
		close(codesSeen)
		counts := map[int]int{}
		for c := range codesSeen {
			counts[c]++
		}
		var rows int64
		e.db.Model(&models.Sample{}).Count(&rows)
		tube := decode[tubeView](t, e.json("GET", "/api/v1/sampling/tubes/T-00000001", staff, nil), 200)
		if rows != 10 || tube.Count != 10 || counts[201] != 10 || counts[201]+counts[200]+counts[409] != 40 {
			t.Errorf("rows %d, count %d, answers %v", rows, tube.Count, counts)
		}
	})
}

// A registration typed by hand that the tube refuses (none such, sealed,
// full) leaves no person behind under the name typed: bad input changes
// nothing.
func TestARefusedTypedSampleRecordsNobody(t *testing.T) {
	e := newTestEnv(t)
	staff := e.makeSampler(t, "sampler", "张采样", samplerNumber, "徐汇区康健街道采样点")
	if rec := e.json("POST", "/api/v1/sampling/tubes", staff, map[string]any{"tube": "T-00000001", "mode": 1}); rec.Code != 201 {
		t.Fatalf("open = %d %s", rec.Code, rec.Body)
	}
	typed := func(sampleID, tube, number string) *httptest.ResponseRecorder {
		return e.sample(staff, tube, map[string]string{"sample_id": sampleID, "doc_type": "resident_id", "doc_number": number, "name": "赵错名"})
	}
	if rec := typed("s-first-0001", "T-00000001", idNumber("31011519700101011")); rec.Code != 201 {
		t.Fatalf("first = %d %s", rec.Code, rec.Body)
	}
	number := idNumber("31011519700101099")
	wantError(t, typed("s-nosuch-0001", "T-99999999", number), 404, fault.CodeTubeNotFound)
	wantError(t, typed("s-full-00001", "T-00000001", number), 409, fault.CodeTubeFull)
	doc, err := document.Parse("resident_id", number, e.store.Today())
	if err != nil {
		t.Fatal(err)
	}
	if p, err := e.store.PersonByDocument(t.Context(), doc); err == nil {
		t.Errorf("a refused registration left person %s (%s) behind", p.MaskedName, p.MaskedDoc)
	}
	// Someone already on record is registered by hand only under the name
	// on record: a document number alone names nobody.
	e.verifiedUser(t, "alice", aliceName, aliceNumber)
	if rec := e.json("POST", "/api/v1/sampling/tubes", staff, map[string]any{"tube": "T-00000002", "mode": 10}); rec.Code != 201 {
		t.Fatalf("open = %d %s", rec.Code, rec.Body)
	}
	wantError(t, typed("s-wrong-0001", "T-00000002", aliceNumber), 400, fault.CodeNameMismatch)
	if rec := e.sample(staff, "T-00000002", map[string]string{"sample_id": "s-right-0001", "doc_type": "resident_id", "doc_number": aliceNumber, "name": aliceName}); rec.Code != 201 {
		t.Errorf("the name on record = %d %s", rec.Code, rec.Body)
	}
}
