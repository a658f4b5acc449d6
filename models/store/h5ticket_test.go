package store_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/fault"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

// A page ticket is sealed: it opens once, for what it was issued, and only
// on the vault that sealed it. A changed byte, another spelling of the same
// bytes or an expired ticket opens nothing, and the text shows no account.
func TestPageTicketsAreSealed(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		clock := &setClock{now: purgeNow}
		s := store.NewStore(db, storetest.Vault(t), clock, shanghai)
		other := store.NewStore(db, storetest.Vault(t), clock, shanghai)
		invalid := func(what, ticket string) {
			t.Helper()
			if _, err := s.RedeemH5Ticket(ctx, ticket); fault.KindOf(err) != fault.KindUnauthorized {
				t.Errorf("%s: %v, want a refused ticket", what, err)
			}
		}

		ticket := s.IssueH5Ticket("acct-42", models.TicketCheckIn, "visit-77", time.Minute)
		if strings.Contains(ticket, "acct") || strings.Contains(ticket, "visit") {
			t.Errorf("ticket %q shows what it holds", ticket)
		}
		raw, _ := base64.RawURLEncoding.DecodeString(ticket)
		tampered := bytes.Clone(raw)
		tampered[len(tampered)/2] ^= 1
		invalid("a changed byte", base64.RawURLEncoding.EncodeToString(tampered))
		invalid("another vault's ticket", other.IssueH5Ticket("acct-42", models.TicketCheckIn, "visit-77", time.Minute))
		invalid("not base64", "%%%")
		invalid("too long", strings.Repeat("A", 1024))

		got, err := s.RedeemH5Ticket(ctx, ticket)
		if err != nil {
			t.Fatal(err)
		}
		if got.AccountID != "acct-42" || got.Purpose != models.TicketCheckIn || got.RelativeID != "visit-77" ||
			!got.ExpiresAt.Equal(purgeNow.Add(time.Minute)) || got.UsedAt == nil || !got.UsedAt.Equal(purgeNow) {
			t.Errorf("redeemed %+v", got)
		}
		invalid("a used ticket", ticket)
		if alt, ok := otherSpelling(ticket); ok {
			invalid("another spelling of a used ticket", alt)
		} else {
			t.Fatalf("no other spelling of %q", ticket)
		}

		late := s.IssueH5Ticket("acct-42", models.TicketCode, "", time.Minute)
		clock.Set(purgeNow.Add(time.Minute))
		invalid("an expired ticket", late)
		var rows int64
		db.Model(&models.H5Ticket{}).Count(&rows)
		if rows != 1 {
			t.Errorf("%d ticket rows, want the one redeemed", rows)
		}
	})
}

// otherSpelling returns the ticket with its last character's spare bits
// set: text that decodes to the same bytes.
func otherSpelling(ticket string) (string, bool) {
	want, _ := base64.RawURLEncoding.DecodeString(ticket)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	head := ticket[:len(ticket)-1]
	for _, c := range alphabet {
		alt := head + string(c)
		if got, err := base64.RawURLEncoding.DecodeString(alt); alt != ticket && err == nil && bytes.Equal(got, want) {
			return alt, true
		}
	}
	return "", false
}
