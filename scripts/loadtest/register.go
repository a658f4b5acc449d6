package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
)

// registerTube is the mode of the tubes registrations go into: a 20-person
// mixed tube, the largest, so the fewest tubes are opened beforehand.
const registerTube = 20

// registerRequests is how many distinct registrations a register run
// prepares: each is a new sample (201, a durable row). A run that answers
// more starts over, and its repeats answer 200 without a write; the
// statuses show it.
const registerRequests = 400000

// registerRuns numbers the register runs so each opens tubes of its own.
var registerRuns atomic.Int64

// sampler makes person 0 a sampler too (the verifier is a sampler as well)
// and fetches every person's 核酸码.
func (s *seeded) sampler(ctx context.Context, c *http.Client, base, operatorKey string) error {
	var me struct {
		Account struct {
			ID string `json:"id"`
		} `json:"account"`
	}
	if err := call(ctx, c, "GET", base+"/api/v1/me", "Bearer "+s.tokens[0], nil, &me, 200); err != nil {
		return err
	}
	grant := map[string]string{"account_id": me.Account.ID, "site": "压力测试采样点"}
	if err := call(ctx, c, "POST", base+"/api/v1/admin/samplers", "Operator "+operatorKey, grant, nil, 201); err != nil {
		return fmt.Errorf("grant sampler: %w", err)
	}
	s.nucleic = make([]string, len(s.tokens))
	for i, token := range s.tokens {
		var code struct {
			QR string `json:"qr"`
		}
		if err := call(ctx, c, "GET", base+"/api/v1/me/nucleic-code", "Bearer "+token, nil, &code, 200); err != nil {
			return fmt.Errorf("核酸码 of person %d: %w", i, err)
		}
		s.nucleic[i] = code.QR
	}
	return nil
}

// register opens the tubes for n registrations, then returns the
// registrations: the i-th puts person i's 核酸码 into tube i/20 under a new
// sample id, as the sampler would at a sampling point.
func (s *seeded) register(ctx context.Context, c *http.Client, base string, n int) (requestGen, error) {
	if len(s.nucleic) < registerTube {
		return nil, fmt.Errorf("register needs at least %d people with a 核酸码", registerTube)
	}
	run := registerRuns.Add(1)
	tube := func(i int) string { return fmt.Sprintf("LOAD-%d-%07d", run, i/registerTube) }
	tubes := (n + registerTube - 1) / registerTube
	var wg sync.WaitGroup
	errs := make(chan error, tubes)
	sem := make(chan struct{}, 16)
	for t := range tubes {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			body := map[string]any{"tube": tube(t * registerTube), "mode": registerTube}
			if err := call(ctx, c, "POST", base+"/api/v1/sampling/tubes", "Bearer "+s.verifier, body, nil, 201); err != nil {
				errs <- fmt.Errorf("open tube: %w", err)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return func(i int) (*http.Request, error) {
		body, _ := json.Marshal(map[string]string{"sample_id": fmt.Sprintf("load-%d-%08d", run, i), "qr": s.nucleic[i%len(s.nucleic)]})
		req, err := http.NewRequest("POST", base+"/api/v1/sampling/tubes/"+tube(i)+"/samples", bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+s.verifier)
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	}, nil
}
