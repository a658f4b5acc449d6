package handlers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"healthcode/models"
	"healthcode/models/document"
)

// importResults uploads a lab's results and waits for the job; this node's
// book then holds what it did.
func (e *testEnv) importResults(t testing.TB, csv string) importView {
	t.Helper()
	job := decode[importResponse](t, e.upload("/api/v1/admin/nucleic-results", csv), 202).Import
	for deadline := time.Now().Add(10 * time.Second); !(job.State == models.ImportDone || job.State == models.ImportRejected || job.State == models.ImportFailed); time.Sleep(5 * time.Millisecond) {
		job = decode[importResponse](t, e.do("GET", "/api/v1/admin/imports/"+job.ID, nil, "Authorization", "Operator "+testOperatorKey), 200).Import
		if time.Now().After(deadline) {
			t.Fatalf("results import %s stuck in %s", job.ID, job.State)
		}
	}
	if err := e.store.RefreshStatus(t.Context(), e.status); err != nil {
		t.Fatal(err)
	}
	return job
}

func TestNucleicResultsChangeColours(t *testing.T) { onEveryDriver(t, testNucleicResultsChangeColours) }

func testNucleicResultsChangeColours(t *testing.T, driver func(*testSetup)) {
	e, alice := familyEnv(t, driver)
	staff := e.makeSampler(t, "sampler", "张采样", samplerNumber, "采样点")
	aliceCode := decode[nucleicCodeResponse](t, e.json("GET", "/api/v1/me/nucleic-code", alice, nil), 200).QR
	sess, _ := e.sessions.Verify(alice)

	// A ten-person mixed tube: alice by her code, nine by hand.
	open := func(tube string, mode int) {
		t.Helper()
		decode[openTubeResponse](t, e.json("POST", "/api/v1/sampling/tubes", staff, map[string]any{"tube": tube, "mode": mode}), 201)
	}
	open("MIX-000001", 10)
	decode[sampleResponse](t, e.sample(staff, "MIX-000001", map[string]string{"sample_id": "mix-00000", "qr": aliceCode}), 201)
	var others []string
	for i := range 9 {
		n := idNumber(fmt.Sprintf("31011519750101%03d", 11+2*i))
		others = append(others, n)
		decode[sampleResponse](t, e.sample(staff, "MIX-000001", map[string]string{"sample_id": fmt.Sprintf("mix-%05d", i+1), "doc_type": "resident_id", "doc_number": n, "name": "周" + strings.Repeat("三", 1+i%2)}), 201)
	}
	if rec := e.json("GET", "/api/v1/me/code", alice, nil); !strings.Contains(rec.Body.String(), `"nucleic":{"result":"none"}`) {
		t.Errorf("no result yet: %s", rec.Body)
	}
	// A result for an open tube, an unknown tube or a bad row rejects the file.
	e.clock.Advance(3 * time.Hour)
	if job := e.importResults(t, "tube,result,tested_at\nMIX-000001,positive,2026-11-23 14:00\n"); job.State != models.ImportRejected || job.Errors[0].Code != "tube_open" {
		t.Errorf("open tube: %+v", job)
	}
	decode[sealResponse](t, e.json("POST", "/api/v1/sampling/tubes/MIX-000001/seal", staff, nil), 200)
	if job := e.importResults(t, "MIX-000001,positive,2026-11-23 14:00\nNOPE-00001,negative,2026-11-23 14:00\nMIX-000001,maybe,2026-11-23 14:00\nMIX-000001,negative,2025-11-23 14:00\n"); job.State != models.ImportRejected || job.BadRows != 3 ||
		job.Errors[2].Code != "tested_at" {
		t.Errorf("bad rows (the last a year before the tube was opened): %+v", job)
	}
	if got := e.status.Of(sess.PersonNo); got.Colour != models.Green || got.Nucleic.Result != "" {
		t.Errorf("a rejected file changed alice: %+v", got)
	}

	// Positive mixed: all ten yellow, with the result and its times.
	if job := e.importResults(t, "MIX-000001,positive,2026-11-23 14:00\n"); job.State != models.ImportDone || job.RowsApplied != 1 {
		t.Fatalf("results: %+v", job)
	}
	tested := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	got := e.status.Of(sess.PersonNo)
	if got.Colour != models.Yellow || got.Source != "nucleic_acid" || got.Reason != "混管阳性，待单管复核" || got.Nucleic.Result != models.NucleicMixedPositive ||
		!got.Nucleic.TestedAt.Equal(tested) || !got.Nucleic.SampledAt.Equal(shanghaiNoon) {
		t.Errorf("alice after a positive mixed tube: %+v", got)
	}
	want := `"nucleic":{"result":"positive","sampled_at":"2026-11-23T12:00:00+08:00","tested_at":"2026-11-23T14:00:00+08:00","hours_since_sampling":3}`
	if rec := e.json("GET", "/api/v1/me/code", alice, nil); !strings.Contains(rec.Body.String(), want) {
		t.Errorf("code after a positive mixed tube: %s, want %s", rec.Body, want)
	}
	yellow := 0
	for _, n := range others {
		p, err := e.store.PersonByDocument(t.Context(), mustDoc(t, n))
		if err != nil {
			t.Fatal(err)
		}
		if e.status.Of(p.No).Colour == models.Yellow {
			yellow++
		}
	}
	if yellow != 9 {
		t.Errorf("%d of the other nine yellow", yellow)
	}

	// A CDC list on top: the worst colour wins, whatever came first.
	e.importListDone(t, "cdc", "resident_id,"+others[1]+",red,密接\n")
	p1, _ := e.store.PersonByDocument(t.Context(), mustDoc(t, others[1]))
	if got := e.status.Of(p1.No); got.Colour != models.Red || got.Source != "cdc" || got.Nucleic.Result != models.NucleicMixedPositive {
		t.Errorf("listed and mixed positive: %+v", got)
	}

	// Single-tube retests: alice negative (cleared), others[0] positive (red),
	// others[1] negative (still red from the CDC list).
	for i, who := range []map[string]string{{"qr": aliceCode}, {"doc_type": "resident_id", "doc_number": others[0], "name": "周三"}, {"doc_type": "resident_id", "doc_number": others[1], "name": "周三三"}} {
		tube := fmt.Sprintf("ONE-00000%d", i)
		open(tube, 1)
		who["sample_id"] = fmt.Sprintf("one-%05d", i)
		decode[sampleResponse](t, e.sample(staff, tube, who), 201)
		decode[sealResponse](t, e.json("POST", "/api/v1/sampling/tubes/"+tube+"/seal", staff, nil), 200)
	}
	e.clock.Advance(7 * time.Hour)
	e.importResults(t, "ONE-000000,negative,2026-11-23T21:00:00+08:00\nONE-000001,positive,2026-11-23T21:00:00+08:00\nONE-000002,negative,2026-11-23T21:00:00+08:00\n")
	if got := e.status.Of(sess.PersonNo); got.Colour != models.Green || got.Source != "" || got.Nucleic.Result != models.NucleicNegative || !got.Nucleic.SampledAt.Equal(shanghaiNoon.Add(3*time.Hour)) {
		t.Errorf("alice after a negative retest: %+v", got)
	}
	staffV := e.makeVerifier(t, "gate", "王小明", staffNumber)
	code := decode[codeResponse](t, e.json("GET", "/api/v1/me/code", alice, nil), 200)
	rec := e.json("POST", "/api/v1/verify", staffV, map[string]string{"qr": code.QR})
	want = `"nucleic":{"result":"negative","sampled_at":"2026-11-23T15:00:00+08:00","tested_at":"2026-11-23T21:00:00+08:00","hours_since_sampling":7}`
	if !strings.Contains(rec.Body.String(), want) || !strings.Contains(rec.Body.String(), `"result":"valid"`) {
		t.Errorf("verify after a negative retest: %s, want %s", rec.Body, want)
	}
	// A code that does not pass carries no result.
	if rec := e.json("POST", "/api/v1/verify", staffV, map[string]string{"qr": aliceCode}); strings.Contains(rec.Body.String(), "nucleic\"") {
		t.Errorf("verify of a nucleic code: %s", rec.Body)
	}
	p0, _ := e.store.PersonByDocument(t.Context(), mustDoc(t, others[0]))
	if got := e.status.Of(p0.No); got.Colour != models.Red || got.Source != "nucleic_acid" || got.Reason != "核酸阳性" || got.Nucleic.Result != models.NucleicPositive {
		t.Errorf("positive retest: %+v", got)
	}
	if got := e.status.Of(p1.No); got.Colour != models.Red || got.Source != "cdc" || got.Nucleic.Result != models.NucleicNegative {
		t.Errorf("listed, negative retest: %+v", got)
	}
	// The old mixed result again (a file sent twice) changes nothing.
	e.importResults(t, "MIX-000001,positive,2026-11-23 14:00\n")
	if got := e.status.Of(sess.PersonNo); got.Colour != models.Green || got.Nucleic.Result != models.NucleicNegative {
		t.Errorf("an older result replaced a newer one: %+v", got)
	}
	// A node starting cold loads the same.
	cold := models.NewStatusBook()
	if err := e.store.RefreshStatus(t.Context(), cold); err != nil {
		t.Fatal(err)
	}
	if a, b := cold.Of(p0.No), e.status.Of(p0.No); a != b {
		t.Errorf("cold %+v, warm %+v", a, b)
	}
}

func mustDoc(t testing.TB, number string) document.Document {
	t.Helper()
	d, err := document.Parse("resident_id", number, shanghaiNoon)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
