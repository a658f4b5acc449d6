package main

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"healthcode/models/codetoken"
)

// The verify command judges codes with the same checker as the scanners'
// API: a fresh code of ours is valid with the live colour, a minted
// year-long one and a garbled one are invalid, and each check is audited.
func TestVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"HEALTHCODE_DATA_DIR": dir}
	getenv := func(k string) string { return vars[k] }
	type verifyAnswer struct {
		Result, Reason, Colour, Kind string
		MaskedName                   string `json:"masked_name"`
	}
	verify := func(qr string) verifyAnswer {
		t.Helper()
		var out strings.Builder
		if err := run(context.Background(), []string{"verify", qr}, getenv, &out, io.Discard); err != nil {
			t.Fatalf("verify: %v", err)
		}
		var a verifyAnswer
		if err := json.Unmarshal([]byte(out.String()), &a); err != nil {
			t.Fatalf("verify printed %q: %v", out.String(), err)
		}
		return a
	}
	if got := verify("HC1JKM:not a code"); got.Result != "invalid" || got.Reason != "malformed" {
		t.Errorf("garbage = %+v", got)
	}
	keys, err := codetoken.LoadDir(filepath.Join(dir, "keys", "signing"), false, time.Now(), time.Hour)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	now := time.Now()
	claims := codetoken.Claims{Issuer: "310000", Subject: "someone", PersonNo: 7, IssuedAt: now, ExpiresAt: now.Add(time.Minute),
		Kind: codetoken.KindPersonal, MaskedName: "欧阳**", MaskedDoc: "11**************2X"}
	fresh, _ := codetoken.Sign(keys[0], claims)
	if got := verify(fresh); got.Result != "valid" || got.Colour != "green" || got.MaskedName != "欧阳**" || got.Kind != "personal" {
		t.Errorf("a fresh code = %+v", got)
	}
	claims.ExpiresAt = now.AddDate(1, 0, 0)
	yearLong, _ := codetoken.Sign(keys[0], claims)
	if got := verify(yearLong); got.Result != "invalid" || got.Reason != "lifetime" || got.MaskedName != "" {
		t.Errorf("a year-long code = %+v", got)
	}
	var audited int64
	openDataDB(t, dir).Table("audit_log").Where("action = 'code.verify' AND actor = 'cli:verify'").Count(&audited)
	if audited != 3 {
		t.Errorf("%d audited checks, want 3", audited)
	}
	if err := run(context.Background(), []string{"verify"}, getenv, io.Discard, io.Discard); err == nil {
		t.Error("verify without a code did not fail")
	}
}
