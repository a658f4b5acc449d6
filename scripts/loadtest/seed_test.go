package main

import (
	"bytes"
	"testing"
)

// The prepared verify requests declare their JSON body: the server refuses
// a POST body of any other media type (415).
func TestPreparedVerifyRequestsAreJSON(t *testing.T) {
	s := &seeded{codes: []string{"HC1JKM:X"}, verifier: "token"}
	p, err := prepare(s.verify("http://127.0.0.1:1"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(p.reqs[0], []byte("\r\nContent-Type: application/json\r\n")) {
		t.Errorf("the prepared verify request has no JSON Content-Type:\n%s", p.reqs[0])
	}
}
