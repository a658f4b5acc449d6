package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"healthcode/models/document"
)

// seeded holds real tokens and codes of seeded people and a verifier.
type seeded struct {
	tokens   []string
	codes    []string
	verifier string
	// nucleic are the people's 核酸码, for registrations (the verifier is
	// also the sampler); empty unless a register target runs.
	nucleic []string
	// venueQR is the posted code of a venue person 0 registered, for
	// check-ins; empty unless a checkin target runs.
	venueQR string
}

// seedPeople creates people through the sandbox as a citizen would (login,
// identity, face check), fetches each one's code, and makes person 0 a
// verifier.
func seedPeople(ctx context.Context, c *http.Client, base, operatorKey string, n int) (*seeded, error) {
	s := &seeded{tokens: make([]string, n), codes: make([]string, n)}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			token, code, err := seedOne(ctx, c, base, i)
			if err != nil {
				errs <- fmt.Errorf("seed person %d: %w", i, err)
				return
			}
			s.tokens[i], s.codes[i] = token, code
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	var me struct {
		Account struct {
			ID string `json:"id"`
		} `json:"account"`
	}
	if err := call(ctx, c, "GET", base+"/api/v1/me", "Bearer "+s.tokens[0], nil, &me, 200); err != nil {
		return nil, err
	}
	grant := map[string]string{"account_id": me.Account.ID, "place": "压力测试"}
	if err := call(ctx, c, "POST", base+"/api/v1/admin/verifiers", "Operator "+operatorKey, grant, nil, 201); err != nil {
		return nil, fmt.Errorf("grant verifier: %w", err)
	}
	s.verifier = s.tokens[0]
	return s, nil
}

func seedOne(ctx context.Context, c *http.Client, base string, i int) (token, code string, err error) {
	var login struct {
		Token string `json:"token"`
	}
	if err := call(ctx, c, "POST", base+"/api/v1/auth/sandbox", "", map[string]string{"user": fmt.Sprintf("load-%d", i)}, &login, 200); err != nil {
		return "", "", err
	}
	first17 := fmt.Sprintf("110105198%01d%02d%02d%03d", i%10, 1+i/28%12, 1+i%28, i%1000)
	number := first17 + string(document.CheckDigit(first17))
	var bound struct {
		Token string `json:"token"`
	}
	identity := map[string]string{"name": "压测" + string(rune('甲'+i%10)) + string(rune('子'+i/10%12)), "doc_type": "resident_id", "doc_number": number}
	if err := call(ctx, c, "POST", base+"/api/v1/identity", "Bearer "+login.Token, identity, &bound, 200); err != nil {
		return "", "", err
	}
	var start struct {
		VerifyID string `json:"verify_id"`
	}
	if err := call(ctx, c, "POST", base+"/api/v1/face/start", "Bearer "+bound.Token, nil, &start, 200); err != nil {
		return "", "", err
	}
	if err := call(ctx, c, "POST", base+"/api/v1/sandbox/face/"+start.VerifyID, "", map[string]string{"outcome": "pass"}, nil, 200); err != nil {
		return "", "", err
	}
	var done struct {
		Token string `json:"token"`
	}
	if err := call(ctx, c, "POST", base+"/api/v1/face/callback", "Bearer "+bound.Token, map[string]string{"verify_id": start.VerifyID}, &done, 200); err != nil {
		return "", "", err
	}
	var shown struct {
		QR string `json:"qr"`
	}
	if err := call(ctx, c, "GET", base+"/api/v1/me/code", "Bearer "+done.Token, nil, &shown, 200); err != nil {
		return "", "", err
	}
	return done.Token, shown.QR, nil
}

// showCode requests person i's code with their own session token.
func (s *seeded) showCode(base string) requestGen {
	url := base + "/api/v1/me/code"
	return func(i int) (*http.Request, error) {
		req, err := http.NewRequest("GET", url, nil)
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+s.tokens[i%len(s.tokens)])
		}
		return req, err
	}
}

// verify has the verifier scan person i's code.
func (s *seeded) verify(base string) requestGen {
	url := base + "/api/v1/verify"
	bodies := make([][]byte, len(s.codes))
	for i, code := range s.codes {
		bodies[i], _ = json.Marshal(map[string]string{"qr": code})
	}
	return func(i int) (*http.Request, error) {
		req, err := http.NewRequest("POST", url, bytes.NewReader(bodies[i%len(bodies)]))
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+s.verifier)
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	}
}
