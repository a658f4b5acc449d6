package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"healthcode/models"
	"healthcode/models/store"
)

// TestNucleicFlowOnTheRealServer drives the whole 核酸码 flow of issue 14
// over HTTP against the built binary, on SQLite and on MariaDB: citizens'
// and a relative's nucleic codes, a ten-person mixed tube filled by every
// accepted kind of code and by hand, the refusals (duplicate, full, sealed,
// screenshot), an idempotent resend, a short seal, the lab's results
// turning the ten yellow, single-tube retests clearing one and turning one
// red, and the code and verify answers carrying the result.
func TestNucleicFlowOnTheRealServer(t *testing.T) {
	for _, driver := range []string{"sqlite", "mysql"} {
		t.Run(driver, func(t *testing.T) {
			env := []string{
				"HEALTHCODE_OPERATOR_KEYS=" + loadOperatorKey,
				"HEALTHCODE_RATE_LOGIN_PER_MINUTE_IP=100000", "HEALTHCODE_RATE_IDENTITY_PER_MINUTE_IP=100000",
				// Short dynamic codes, so a screenshot can be shown expired.
				"HEALTHCODE_CODE_TTL=4s", "HEALTHCODE_CLOCK_SKEW=1s",
			}
			s, dbOpts := startOn(t, driver, env...)
			testNucleicFlow(t, s.base, dbOpts)
		})
	}
}

// nucleicAnswer is the "nucleic" member of the code and verify answers.
type nucleicAnswer struct {
	Result             string
	SampledAt          string `json:"sampled_at"`
	TestedAt           string `json:"tested_at"`
	HoursSinceSampling *int   `json:"hours_since_sampling"`
}

type flowCode struct {
	QR      string
	Kind    string
	Colour  string
	Nucleic nucleicAnswer
}

func testNucleicFlow(t *testing.T, base string, dbOpts store.DBOptions) {
	bearer := func(token string) string { return "Bearer " + token }
	alice, _ := citizen(t, base, "flow-alice", "张三", "11010519491231002X")
	bob, _ := citizen(t, base, "flow-bob", "王小明", idNumber("31011519800101123"))
	staff, staffID := citizen(t, base, "flow-sampler", "李采样", idNumber("31011519850303456"))
	mother := idNumber("11010519250101002")

	// The citizen's 核酸码: no colour, the same code when asked again.
	var aliceCode, again struct {
		QR, Kind   string
		MaskedName string `json:"masked_name"`
		MaskedDoc  string `json:"masked_doc"`
		ExpiresAt  string `json:"expires_at"`
	}
	var raw map[string]any
	jsonCall(t, "GET", base+"/api/v1/me/nucleic-code", bearer(alice), nil, &raw, 200)
	if _, ok := raw["colour"]; ok {
		t.Errorf("the nucleic code answer carries a colour: %v", raw)
	}
	jsonCall(t, "GET", base+"/api/v1/me/nucleic-code", bearer(alice), nil, &aliceCode, 200)
	jsonCall(t, "GET", base+"/api/v1/me/nucleic-code", bearer(alice), nil, &again, 200)
	if aliceCode.Kind != "nucleic" || aliceCode.MaskedName != "张*" || aliceCode.MaskedDoc != "11**************2X" || again.QR != aliceCode.QR {
		t.Errorf("nucleic code = %+v, again %q", aliceCode, again.QR)
	}
	if exp, err := time.Parse(time.RFC3339, aliceCode.ExpiresAt); err != nil || time.Until(exp) < 29*24*time.Hour {
		t.Errorf("nucleic code expires at %q (%v), want 30 days", aliceCode.ExpiresAt, err)
	}

	// A relative's 核酸码: alice's mother shares her household register.
	if status, body := upload(t, http.DefaultClient, base+"/api/v1/admin/households", "household_id,doc_type,doc_number\nH-1,resident_id,11010519491231002X\nH-1,resident_id,"+mother+"\n"); status != 201 {
		t.Fatalf("households = %d %s", status, body)
	}
	var rel struct{ ID, Status string }
	jsonCall(t, "POST", base+"/api/v1/relatives", bearer(alice), map[string]string{"name": "李梅", "doc_type": "resident_id", "doc_number": mother, "relation": "parent"}, &rel, 201)
	if rel.Status != "approved" {
		t.Fatalf("mother = %+v", rel)
	}
	var motherCode flowCode
	jsonCall(t, "GET", base+"/api/v1/relatives/"+rel.ID+"/nucleic-code", bearer(alice), nil, &motherCode, 200)
	if motherCode.Kind != "nucleic" {
		t.Errorf("relative's nucleic code = %+v", motherCode)
	}

	// An operator grants the sampler; every node's book learns it within a
	// refresh, so the first tube is retried until then.
	jsonCall(t, "POST", base+"/api/v1/admin/samplers", "Operator "+loadOperatorKey, map[string]string{"account_id": staffID, "site": "徐汇采样点"}, nil, 201)
	var tube struct {
		Tube, Site, State string
		Mode, Count       int
	}
	within(t, 10*time.Second, "the sampler cannot open a tube", func() bool {
		status, _, body := do(t, http.DefaultClient, "POST", base+"/api/v1/sampling/tubes", bearer(staff), map[string]any{"tube": "MIX-000001", "mode": 10})
		json.Unmarshal(body, &tube)
		return status == 201
	})
	if tube.Mode != 10 || tube.Site != "徐汇采样点" || tube.Count != 0 || tube.State != "open" {
		t.Errorf("open tube = %+v", tube)
	}
	refused := func(method, path string, body any, status int, code string) {
		t.Helper()
		var e errorEnvelope
		jsonCall(t, method, base+path, bearer(staff), body, &e, status)
		if e.Error.Code != code || e.Error.Message == "" {
			t.Errorf("%s %s = %+v, want %s", method, path, e, code)
		}
	}
	refused("POST", "/api/v1/sampling/tubes", map[string]any{"tube": "MIX-000001", "mode": 10}, 409, "tube_exists")

	type sample struct {
		SampleID   string `json:"sample_id"`
		Tube       string
		Count      int
		MaskedName string `json:"masked_name"`
		MaskedDoc  string `json:"masked_doc"`
	}
	add := func(tube string, body map[string]string, status int) sample {
		t.Helper()
		var got sample
		jsonCall(t, "POST", base+"/api/v1/sampling/tubes/"+tube+"/samples", bearer(staff), body, &got, status)
		return got
	}
	liveCode := func(token string) string {
		t.Helper()
		var c flowCode
		jsonCall(t, "GET", base+"/api/v1/me/code", bearer(token), nil, &c, 200)
		return c.QR
	}

	// The mixed tube: alice's 核酸码, her mother's, bob's live code, seven by hand.
	first := add("MIX-000001", map[string]string{"sample_id": "flow-mix-00", "qr": aliceCode.QR}, 201)
	if first.Count != 1 || first.MaskedName != "张*" || first.MaskedDoc != "11**************2X" {
		t.Errorf("first sample = %+v", first)
	}
	if resent := add("MIX-000001", map[string]string{"sample_id": "flow-mix-00", "qr": aliceCode.QR}, 200); resent != first {
		t.Errorf("resent sample = %+v, want %+v", resent, first)
	}
	refused("POST", "/api/v1/sampling/tubes/MIX-000001/samples", map[string]string{"sample_id": "flow-mix-dup", "qr": aliceCode.QR}, 409, "already_in_tube")
	add("MIX-000001", map[string]string{"sample_id": "flow-mix-01", "qr": motherCode.QR}, 201)
	add("MIX-000001", map[string]string{"sample_id": "flow-mix-02", "qr": liveCode(bob)}, 201)
	var byHand []string
	for i := range 7 {
		n := idNumber(fmt.Sprintf("31011519750101%03d", 11+2*i))
		byHand = append(byHand, n)
		got := add("MIX-000001", map[string]string{"sample_id": fmt.Sprintf("flow-mix-%02d", 3+i), "doc_type": "resident_id", "doc_number": n, "name": "周三"}, 201)
		if got.Count != 4+i || got.MaskedName != "周*" || got.MaskedDoc != "31**************"+n[16:] {
			t.Errorf("sample by hand = %+v", got)
		}
	}
	refused("POST", "/api/v1/sampling/tubes/MIX-000001/samples", map[string]string{"sample_id": "flow-mix-11", "doc_type": "passport", "doc_number": "E12345678", "name": "SMITH JOHN"}, 409, "tube_full")
	var sealed struct {
		Tube, State string
		Count       int
		Short       bool
	}
	jsonCall(t, "POST", base+"/api/v1/sampling/tubes/MIX-000001/seal", bearer(staff), nil, &sealed, 200)
	if sealed.State != "sealed" || sealed.Count != 10 || sealed.Short {
		t.Errorf("sealed = %+v", sealed)
	}
	refused("POST", "/api/v1/sampling/tubes/MIX-000001/samples", map[string]string{"sample_id": "flow-mix-12", "qr": aliceCode.QR}, 409, "tube_sealed")

	// A short mixed tube, with a foreigner registered by passport.
	jsonCall(t, "POST", base+"/api/v1/sampling/tubes", bearer(staff), map[string]any{"tube": "SHORT-00001", "mode": 20}, nil, 201)
	add("SHORT-00001", map[string]string{"sample_id": "flow-short-0", "doc_type": "passport", "doc_number": "E12345678", "name": "SMITH JOHN"}, 201)
	jsonCall(t, "POST", base+"/api/v1/sampling/tubes/SHORT-00001/seal", bearer(staff), nil, &sealed, 200)
	if !sealed.Short || sealed.Count != 1 {
		t.Errorf("short seal = %+v", sealed)
	}

	// Single tubes for the retests: alice by her 核酸码, bob by a live code;
	// a screenshot of bob's code, shown after it expired, is refused.
	screenshot := liveCode(bob)
	for _, one := range []struct{ tube, id, qr string }{{"ONE-000001", "flow-one-1", aliceCode.QR}, {"ONE-000002", "flow-one-2", liveCode(bob)}} {
		jsonCall(t, "POST", base+"/api/v1/sampling/tubes", bearer(staff), map[string]any{"tube": one.tube, "mode": 1}, nil, 201)
		add(one.tube, map[string]string{"sample_id": one.id, "qr": one.qr}, 201)
		jsonCall(t, "POST", base+"/api/v1/sampling/tubes/"+one.tube+"/seal", bearer(staff), nil, nil, 200)
	}
	jsonCall(t, "POST", base+"/api/v1/sampling/tubes", bearer(staff), map[string]any{"tube": "ONE-000003", "mode": 1}, nil, 201)
	time.Sleep(5500 * time.Millisecond) // the code's 4 s and the 1 s skew
	refused("POST", "/api/v1/sampling/tubes/ONE-000003/samples", map[string]string{"sample_id": "flow-one-3", "qr": screenshot}, 400, "expired")

	if n := countRows(t, dbOpts, "samples", "tube = ?", "MIX-000001"); n != 10 {
		t.Errorf("%d registrations in the mixed tube, want 10", n)
	}
	var code flowCode
	jsonCall(t, "GET", base+"/api/v1/me/code", bearer(alice), nil, &code, 200)
	if code.Colour != "green" || code.Nucleic.Result != "none" {
		t.Errorf("before any result: %+v", code)
	}

	// The lab: the mixed tube positive turns the ten yellow.
	results := func(csv string) {
		t.Helper()
		status, body := upload(t, http.DefaultClient, base+"/api/v1/admin/nucleic-results", csv)
		if status != 202 {
			t.Fatalf("results = %d %s", status, body)
		}
		var job struct{ Import struct{ ID, State string } }
		json.Unmarshal(body, &job)
		within(t, 20*time.Second, "the results import never finished", func() bool {
			jsonCall(t, "GET", base+"/api/v1/admin/imports/"+job.Import.ID, "Operator "+loadOperatorKey, nil, &job, 200)
			return job.Import.State == models.ImportDone || job.Import.State == models.ImportRejected || job.Import.State == models.ImportFailed
		})
		if job.Import.State != models.ImportDone {
			t.Fatalf("results import %+v", job.Import)
		}
	}
	tested := time.Now().Add(-time.Second).Format(time.RFC3339)
	results("tube,result,tested_at\nMIX-000001,positive," + tested + "\nSHORT-00001,negative," + tested + "\n")
	colourOf := func(token string) flowCode {
		t.Helper()
		var c flowCode
		jsonCall(t, "GET", base+"/api/v1/me/code", bearer(token), nil, &c, 200)
		return c
	}
	within(t, 10*time.Second, "alice never turned yellow", func() bool { return colourOf(alice).Colour == "yellow" })
	if c := colourOf(alice); c.Nucleic.Result != "positive" || c.Nucleic.SampledAt == "" || c.Nucleic.TestedAt == "" || c.Nucleic.HoursSinceSampling == nil || *c.Nucleic.HoursSinceSampling != 0 {
		t.Errorf("alice after the positive mixed tube: %+v", c)
	}
	if c := colourOf(bob); c.Colour != "yellow" || c.Nucleic.Result != "positive" {
		t.Errorf("bob after the positive mixed tube: %+v", c)
	}
	var motherStatus struct{ Colour string }
	jsonCall(t, "GET", base+"/api/v1/relatives/"+rel.ID+"/status", bearer(alice), nil, &motherStatus, 200)
	if motherStatus.Colour != "yellow" {
		t.Errorf("mother after the positive mixed tube: %+v", motherStatus)
	}
	if n := countRows(t, dbOpts, "nucleic_results", "tube = ? AND result = ?", "MIX-000001", models.NucleicMixedPositive); n != 10 {
		t.Errorf("%d people hold the mixed-positive result, want 10", n)
	}
	if n := countRows(t, dbOpts, "nucleic_results", "tube = ? AND result = ?", "SHORT-00001", models.NucleicNegative); n != 1 {
		t.Errorf("%d people hold the short tube's negative result, want 1", n)
	}

	// Single-tube retests: alice negative (cleared), bob positive (red).
	retested := time.Now().Add(-time.Second).Format(time.RFC3339)
	results("tube,result,tested_at\nONE-000001,negative," + retested + "\nONE-000002,positive," + retested + "\n")
	within(t, 10*time.Second, "bob never turned red", func() bool { return colourOf(bob).Colour == "red" })
	if c := colourOf(alice); c.Colour != "green" || c.Nucleic.Result != "negative" {
		t.Errorf("alice after a negative retest: %+v", c)
	}
	jsonCall(t, "GET", base+"/api/v1/relatives/"+rel.ID+"/status", bearer(alice), nil, &motherStatus, 200)
	if motherStatus.Colour != "yellow" {
		t.Errorf("mother, not retested, is %s, want yellow", motherStatus.Colour)
	}

	// Verify: the live code carries the result; the 核酸码 proves identity,
	// not health.
	jsonCall(t, "POST", base+"/api/v1/admin/verifiers", "Operator "+loadOperatorKey, map[string]string{"account_id": staffID, "place": "gate"}, nil, 201)
	bobCode := liveCode(bob)
	var verdict struct {
		Result, Reason, Colour string
		Nucleic                nucleicAnswer
	}
	within(t, 10*time.Second, "the verifier is never known", func() bool {
		status, _, body := do(t, http.DefaultClient, "POST", base+"/api/v1/verify", bearer(staff), map[string]string{"qr": bobCode})
		json.Unmarshal(body, &verdict)
		return status == 200
	})
	if verdict.Result != "valid" || verdict.Colour != "red" || verdict.Nucleic.Result != "positive" || verdict.Nucleic.TestedAt == "" {
		t.Errorf("verify bob's code = %+v", verdict)
	}
	verdict.Result, verdict.Reason, verdict.Colour, verdict.Nucleic = "", "", "", nucleicAnswer{}
	jsonCall(t, "POST", base+"/api/v1/verify", bearer(staff), map[string]string{"qr": aliceCode.QR}, &verdict, 200)
	if verdict.Result != "invalid" || verdict.Reason != "not_a_health_code" || verdict.Colour != "" || verdict.Nucleic.Result != "" {
		t.Errorf("verify a nucleic code = %+v", verdict)
	}
}
