package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// checkInCredit is the unified social credit code of the venue check-ins go
// to: a valid one (its check digit holds), so the venue is active at once.
const checkInCredit = "91350100M000100Y43"

// venue has person 0 (green, face-verified today) register a venue and
// keeps its posted code, for the checkin target.
func (s *seeded) venue(ctx context.Context, c *http.Client, base string) error {
	var v struct {
		QR string `json:"qr"`
	}
	body := map[string]string{"name": "压力测试场所", "credit_code": checkInCredit, "address": "上海市徐汇区漕溪北路88号", "district": "310104", "kind": "shop"}
	if err := call(ctx, c, "POST", base+"/api/v1/venues", "Bearer "+s.tokens[0], body, &v, 201); err != nil {
		return fmt.Errorf("register venue: %w", err)
	}
	s.venueQR = v.QR
	return nil
}

// checkIn has person i scan the venue's code, as a visitor does: each one a
// new durable, group-committed check-in (201) with its result-page ticket.
func (s *seeded) checkIn(base string) requestGen {
	url := base + "/api/v1/checkins"
	body, _ := json.Marshal(map[string]string{"venue_qr": s.venueQR})
	return func(i int) (*http.Request, error) {
		req, err := http.NewRequest("POST", url, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+s.tokens[i%len(s.tokens)])
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	}
}
