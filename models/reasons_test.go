package models

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"healthcode/models/codetoken"
)

// TestEveryReasonHasStaffText holds VerifyReasons to what the checker can
// say: every reason reasonOf, Check and the link policy give is listed, and
// each listed one has words of its own for staff.
func TestEveryReasonHasStaffText(t *testing.T) {
	given := []string{"expired", "unsupported_kind", "link_unknown", ReasonNotHealthCode, ReasonVenueCode}
	policy := VenuePolicy{Venues: NewVenueBook()}
	for _, e := range []VenueEntry{{State: VenueEnded}, {State: VenueRejected}, {State: VenueActive, Generation: 2}, {State: VenuePendingReview, Generation: 1}} {
		b := policy.Venues
		b.snap.Load().shards[b.shard("v")] = map[string]VenueEntry{"v": e}
		r, _ := policy.Revoked(nil, codetoken.Claims{Subject: "v", Serial: 1})
		given = append(given, r)
	}
	r, _ := policy.Revoked(nil, codetoken.Claims{Subject: "nosuch", Serial: 1})
	given = append(given, r)
	for _, err := range []error{codetoken.ErrMalformed, codetoken.ErrUnknownKey, codetoken.ErrBadSignature,
		codetoken.ErrNotYetValid, codetoken.ErrWrongIssuer, codetoken.ErrLifetime, codetoken.ErrRetiredKey,
		fmt.Errorf("wrapped: %w", codetoken.ErrBadSignature), errors.New("anything else")} {
		given = append(given, reasonOf(err))
	}
	for _, status := range []string{LinkPending, LinkRejected, LinkDeleted} {
		given = append(given, "link_"+status)
	}
	for _, r := range given {
		if !slices.Contains(VerifyReasons, r) {
			t.Errorf("the checker gives reason %q, which VerifyReasons does not list", r)
		}
	}
	generic := ReasonText("no_such_reason")
	seen := map[string]string{}
	for _, r := range VerifyReasons {
		text := ReasonText(r)
		if text == "" || text == generic {
			t.Errorf("reason %q has no text of its own", r)
		}
		if other, dup := seen[text]; dup {
			t.Errorf("reasons %q and %q read the same: %s", r, other, text)
		}
		seen[text] = r
	}
	if ReasonText("") != "" {
		t.Error("no reason reads as something")
	}
	if want := "已过期（截图或旧码），请对方刷新"; ReasonText("expired") != want {
		t.Errorf("expired reads %q, want %q", ReasonText("expired"), want)
	}
}

func TestRelationText(t *testing.T) {
	want := map[string]string{"child": "子女", "parent": "父母", "spouse": "配偶", "grandparent": "祖父母", "grandchild": "孙子女", "other": "其他"}
	for r, text := range want {
		if got := RelationText(r); got != text || !ValidRelation(r) {
			t.Errorf("RelationText(%q) = %q (valid %v), want %q", r, got, ValidRelation(r), text)
		}
	}
	if RelationText("cousin") != "" || ValidRelation("cousin") || len(relations) != len(want) {
		t.Error("an unknown relation reads as something, or a relation is missing here")
	}
}
