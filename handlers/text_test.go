package handlers

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"healthcode/config"
	"healthcode/models"
	"healthcode/models/fault"
)

// GBK bytes of Chinese text, as a spreadsheet on a Chinese Windows saves
// them: 张三 and 密接.
const (
	gbkZhangSan = "\xd5\xc5\xc8\xfd"
	gbkMiJie    = "\xc3\xdc\xbd\xd3"
)

// Identifiers compare exactly on every database: user names differing in
// case or accent are different sandbox users, so one cannot log in as the
// other.
func TestIdentifiersCompareExactly(t *testing.T) { onEveryDriver(t, testIdentifiersCompareExactly) }

func testIdentifiersCompareExactly(t *testing.T, driver func(*testSetup)) {
	e := newTestEnv(t, driver)
	ids := map[string]string{}
	for _, user := range []string{"Victim", "victim", "vîctim", "VICTIM "} {
		ids[e.sandboxLogin(t, user).Account.ID] = user
	}
	// "VICTIM " is trimmed by the sandbox to VICTIM: four distinct users.
	if len(ids) != 4 {
		t.Fatalf("logins as Victim, victim, vîctim and VICTIM gave %d accounts, want 4: %v", len(ids), ids)
	}
	// The same name again is the same account.
	again := e.sandboxLogin(t, "vîctim").Account.ID
	if ids[again] != "vîctim" {
		t.Errorf("logging in as vîctim again gave the account of %q", ids[again])
	}
}

// A text/plain or form POST, which a page on another site can send without
// asking, never reaches a JSON endpoint.
func TestJSONEndpointsRefuseOtherMediaTypes(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct{ contentType, body string }{
		{"text/plain", `{"user":"mallory"}`},
		{"text/plain;charset=UTF-8", `{"user":"mallory"}`},
		{"application/x-www-form-urlencoded", `user=mallory`},
		{"multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nmallory\r\n--x--\r\n"},
		{"", `{"user":"mallory"}`},
		{"application/jsonp", `{"user":"mallory"}`},
		{"application/json;;", `{"user":"mallory"}`},
	} {
		rec := e.do("POST", "/api/v1/auth/sandbox", strings.NewReader(tc.body), "Content-Type", tc.contentType)
		wantError(t, rec, 415, "unsupported_media_type")
	}
	var n int64
	if err := e.db.Table("accounts").Count(&n).Error; err != nil || n != 0 {
		t.Errorf("refused logins made %d accounts (%v)", n, err)
	}

	// The page API, which a cookie authorises, refuses them too.
	wantError(t, e.do("POST", "/h5/api/verify", strings.NewReader(`qr=x`), "Content-Type", "application/x-www-form-urlencoded"),
		415, "unsupported_media_type")
	// So do the operator routes, even with a valid key.
	rec := e.do("POST", "/api/v1/admin/verifiers", strings.NewReader(`{"account_id":"x","place":"y"}`),
		"Content-Type", "text/plain", "Authorization", "Operator "+testOperatorKey)
	wantError(t, rec, 415, "unsupported_media_type")
	// A chunked body without a declared length is checked the same way.
	chunked := strings.NewReader(`{"user":"mallory"}`)
	req := e.do("POST", "/api/v1/auth/sandbox", struct{ *strings.Reader }{chunked}, "Content-Type", "text/plain")
	wantError(t, req, 415, "unsupported_media_type")

	// JSON with a charset, and bodiless POSTs, are accepted.
	rec = e.do("POST", "/api/v1/auth/sandbox", strings.NewReader(`{"user":"alice"}`), "Content-Type", "application/json; charset=utf-8")
	login := decode[loginBody](t, rec, 200)
	rec = e.do("POST", "/api/v1/auth/logout", nil, "Authorization", "Bearer "+login.Token)
	if rec.Code != 200 {
		t.Errorf("bodiless logout = %d %s", rec.Code, rec.Body)
	}

	// The uploads take multipart and the Alipay notification a form, as
	// before; a JSON body there is refused.
	if rec := e.importList("cdc", "resident_id,"+aliceNumber+",red,\n"); rec.Code != 202 {
		t.Errorf("multipart upload = %d %s", rec.Code, rec.Body)
	}
	rec = e.do("POST", "/api/v1/admin/status-imports", strings.NewReader(`{}`), "Content-Type", "application/json",
		"Authorization", "Operator "+testOperatorKey)
	wantError(t, rec, 415, "unsupported_media_type")
}

func TestAlipayNotificationTakesAForm(t *testing.T) {
	_, alipay := withAlipay(t)
	e := newTestEnv(t, alipay)
	form := url.Values{"certify_id": {"nobody"}}
	// A form reaches the handler, which refuses the missing signature.
	rec := e.do("POST", "/api/v1/face/notify/alipay", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if rec.Code == 415 {
		t.Errorf("the form notification was refused as a media type: %s", rec.Body)
	}
	rec = e.do("POST", "/api/v1/face/notify/alipay", strings.NewReader(`{"certify_id":"nobody"}`), "Content-Type", "application/json")
	wantError(t, rec, 415, "unsupported_media_type")
}

// Text that is not UTF-8 is refused where it enters, never stored as
// mojibake.
func TestJSONTextMustBeUTF8(t *testing.T) {
	e := newTestEnv(t)
	token := e.sandboxLogin(t, "alice").Token
	body := `{"name":"` + gbkZhangSan + `","doc_type":"resident_id","doc_number":"` + aliceNumber + `"}`
	rec := e.do("POST", "/api/v1/identity", strings.NewReader(body), "Content-Type", "application/json", "Authorization", "Bearer "+token)
	wantError(t, rec, 400, "invalid_encoding")
	for _, table := range []string{"persons", "identity_claims"} {
		var n int64
		if err := e.db.Table(table).Count(&n).Error; err != nil || n != 0 {
			t.Errorf("the refused identity made %d rows in %s (%v)", n, table, err)
		}
	}
	rec = e.do("POST", "/api/v1/auth/sandbox", strings.NewReader(`{"user":"`+gbkZhangSan+`"}`), "Content-Type", "application/json")
	wantError(t, rec, 400, "invalid_encoding")
}

// A GBK-encoded list is refused whole, naming its rows; the list in force
// stays.
func TestUploadsMustBeUTF8(t *testing.T) { onEveryDriver(t, testUploadsMustBeUTF8) }

func testUploadsMustBeUTF8(t *testing.T, driver func(*testSetup)) {
	e := newTestEnv(t, driver)
	if job := e.importListDone(t, "cdc", "resident_id,"+aliceNumber+",red,密接\n"); job.State != models.ImportDone {
		t.Fatalf("import = %+v", job)
	}
	job := e.importListDone(t, "cdc", "resident_id,"+aliceNumber+",green,ok\nresident_id,"+aliceNumber+",red,"+gbkMiJie+"\n")
	if job.State != models.ImportRejected || job.BadRows != 1 || len(job.Errors) != 1 || job.Errors[0].Row != 2 || job.Errors[0].Code != fault.CodeInvalidEncoding {
		t.Errorf("job = %+v, want row 2 %s", job, fault.CodeInvalidEncoding)
	}
	var reasons []string
	if err := e.db.Table("status_entries").Pluck("reason", &reasons).Error; err != nil || len(reasons) != 1 || reasons[0] != "密接" {
		t.Errorf("reasons after the refused file = %q (%v)", reasons, err)
	}

	household := gbkZhangSan + "," + "resident_id," + aliceNumber + "\n"
	rec := e.upload("/api/v1/admin/households", household)
	wantError(t, rec, 400, fault.CodeImportRejected)
	if !strings.Contains(rec.Body.String(), `"row":1`) {
		t.Errorf("the refused household file does not name row 1: %s", rec.Body)
	}
	if bytes.Contains(rec.Body.Bytes(), []byte(gbkZhangSan)) {
		t.Error("the answer repeats the row's content")
	}
}

// Audit entries carry the server's request id, with a well-formed client id
// beside it; a client cannot put its own id in the server's place.
func TestAuditKeepsBothRequestIDs(t *testing.T) { onEveryDriver(t, testAuditKeepsBothRequestIDs) }

func testAuditKeepsBothRequestIDs(t *testing.T, driver func(*testSetup)) {
	e := newTestEnv(t, driver)
	grant := func(user, clientID string) (serverID string, entry models.AuditEntry) {
		t.Helper()
		id := e.sandboxLogin(t, user).Account.ID
		rec := e.do("POST", "/api/v1/admin/verifiers", strings.NewReader(`{"account_id":"`+id+`","place":"人民广场"}`),
			"Content-Type", "application/json", "Authorization", "Operator "+testOperatorKey, "X-Request-Id", clientID)
		if rec.Code != 201 {
			t.Fatalf("grant = %d %s", rec.Code, rec.Body)
		}
		entries, err := e.store.AuditEntries(t.Context(), "verifier.grant", id)
		if err != nil || len(entries) != 1 {
			t.Fatalf("audit = %+v, %v", entries, err)
		}
		return rec.Header().Get("X-Request-Id"), entries[0]
	}
	server, entry := grant("staff-1", "gw.0001-abc_def")
	if entry.RequestID != server || !validRequestID(server) || entry.ClientRequestID != "gw.0001-abc_def" {
		t.Errorf("audit entry ids = %q / %q, want the server's %q and the client's gw.0001-abc_def", entry.RequestID, entry.ClientRequestID, server)
	}
	server, entry = grant("staff-2", "forged id; drop")
	if entry.RequestID != server || entry.ClientRequestID != "" {
		t.Errorf("a malformed client id: audit entry ids = %q / %q, want %q and none", entry.RequestID, entry.ClientRequestID, server)
	}
}

// The server's own disk failing to take an upload (the data directory
// unusable, the disk full) is 503, not the 400 of a bad file, and leaves no
// job behind.
func TestAnUploadTheDiskCannotTakeIs503(t *testing.T) {
	e := newTestEnv(t, func(s *testSetup) {
		f := filepath.Join(t.TempDir(), "not-a-directory")
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		s.cfg.DataDir = f
	})
	rec := e.importList("community", "doc_type,doc_number,colour,reason\nresident_id,"+aliceNumber+",yellow,\n")
	wantError(t, rec, 503, fault.CodeUnavailable)
	var jobs int64
	e.db.Table("import_jobs").Count(&jobs)
	if jobs != 0 {
		t.Errorf("%d import jobs after a refused upload", jobs)
	}
}

// An operator's upload has the upload timeout to arrive in, not the read
// timeout of ordinary requests: a list that takes longer than the read and
// write timeouts to send (here 0.3 s; 10 s and 15 s by default, where a
// 256 MB list on a slow link takes minutes) is taken and answered.
func TestASlowUploadOutlivesTheReadTimeout(t *testing.T) {
	lists := struct{ route, header, row, want string }{"/api/v1/admin/status-imports", "doc_type,doc_number,colour,reason", "resident_id," + aliceNumber + ",yellow,第%d批", "202"}
	households := struct{ route, header, row, want string }{"/api/v1/admin/households", "household_id,doc_type,doc_number", "H-%d,resident_id," + aliceNumber, "201"}
	for _, c := range []struct {
		name                     string
		upload                   time.Duration
		ok                       bool
		route, header, row, want string
	}{
		{"list, upload timeout", time.Minute, true, lists.route, lists.header, lists.row, lists.want},
		{"households, upload timeout", time.Minute, true, households.route, households.header, households.row, households.want},
		{"list, read timeout only", 0, false, lists.route, lists.header, lists.row, lists.want},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEnv(t, func(s *testSetup) { s.cfg.HTTP.UploadTimeout = config.Duration(c.upload) })
			srv := httptest.NewUnstartedServer(e.handler)
			srv.Config.ReadTimeout, srv.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
			srv.Start()
			defer srv.Close()
			pr, pw := io.Pipe()
			w := multipart.NewWriter(pw)
			go func() {
				if c.route == lists.route {
					w.WriteField("source", "community")
				}
				f, _ := w.CreateFormFile("file", "list.csv")
				f.Write([]byte(c.header + "\n"))
				for i := range 8 { // 0.8 s in all
					time.Sleep(100 * time.Millisecond)
					fmt.Fprintf(f, c.row+"\n", i)
				}
				w.Close()
				pw.Close()
			}()
			req, _ := http.NewRequest("POST", srv.URL+c.route, pr)
			req.Header.Set("Content-Type", w.FormDataContentType())
			req.Header.Set("Authorization", "Operator "+testOperatorKey)
			resp, err := srv.Client().Do(req)
			if err == nil {
				defer resp.Body.Close()
			}
			got := "no answer"
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				got = strconv.Itoa(resp.StatusCode) + " " + string(b)
			}
			if ok := strings.HasPrefix(got, c.want+" "); ok != c.ok {
				t.Fatalf("slow upload to %s: %v %s; want %s: %v", c.route, err, got, c.want, c.ok)
			}
		})
	}
}
