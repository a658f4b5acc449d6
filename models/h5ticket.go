package models

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"healthcode/models/fault"

	"gorm.io/gorm"
)

// Purposes of a page ticket.
const (
	TicketCode   = "code"   // the code page
	TicketVerify = "verify" // the verification view
	// TicketSampler opens the sampler page.
	TicketSampler = "sampler"
	// TicketNucleic opens the 核酸码 page, the holder's or a relative's.
	TicketNucleic = "nucleic"
	// TicketCheckIn opens a visit's check-in result page (its RelativeID
	// holds the visit); TicketVenue a venue's live register (RelativeID
	// holds the venue).
	TicketCheckIn = "checkin"
	TicketVenue   = "venue"
	// TicketOfflinePrint opens the print page of an offline code, the
	// holder's or (RelativeID holds the link) a relative's.
	TicketOfflinePrint = "offline_print"
)

// H5Ticket is the record of a page ticket's one use. A ticket lets the
// mini-program's web-view open a page without a long-lived token in its URL:
// it is sealed (encrypted and authenticated by the vault) and holds the
// account, the purpose, the subject and its expiry, so issuing one writes
// nothing; redeeming it writes this row, whose key is the ticket's hash, and
// a second redemption finds the row and fails. Rows go with the purge a
// while after the ticket expired.
type H5Ticket struct {
	ID         string `gorm:"primaryKey;size:64"`
	AccountID  string
	Purpose    string
	RelativeID string
	ExpiresAt  time.Time
	UsedAt     *time.Time
	CreatedAt  time.Time
}

// TableName names the table.
func (H5Ticket) TableName() string { return "h5_tickets" }

// purposeTicket binds a sealed ticket to its use.
const purposeTicket = "h5.ticket"

// ticketVersion is the first field of a ticket's sealed payload.
const ticketVersion = "t1"

// IssueH5Ticket seals a ticket for the account's page of purpose (relativeID
// names its subject: a relative link, a visit, a venue), valid for ttl.
func (s *Store) IssueH5Ticket(accountID, purpose, relativeID string, ttl time.Duration) string {
	exp := s.clock.Now().Add(ttl).UTC()
	payload := strings.Join([]string{ticketVersion, strconv.FormatInt(exp.UnixMilli(), 10), accountID, purpose, relativeID}, "\x00")
	return base64.RawURLEncoding.EncodeToString(s.vault.Seal(payload, purposeTicket))
}

var errTicketInvalid = &fault.Error{Kind: fault.KindUnauthorized, Code: fault.CodeTicketInvalid, Message: "页面链接已失效，请在小程序中重新打开"}

// RedeemH5Ticket uses a ticket up: it returns it once, then never again. A
// used, expired or forged ticket is an *Error of KindUnauthorized.
func (s *Store) RedeemH5Ticket(ctx context.Context, ticket string) (*H5Ticket, error) {
	now := s.clock.Now().UTC()
	if len(ticket) > maxTicketLength {
		return nil, errTicketInvalid
	}
	sealed, err := base64.RawURLEncoding.DecodeString(ticket)
	if err != nil {
		return nil, errTicketInvalid
	}
	payload, err := s.vault.Open(sealed, purposeTicket)
	if err != nil {
		return nil, errTicketInvalid
	}
	f := strings.Split(payload, "\x00")
	if len(f) != 5 || f[0] != ticketVersion {
		return nil, errTicketInvalid
	}
	ms, err := strconv.ParseInt(f[1], 10, 64)
	exp := time.UnixMilli(ms).UTC()
	if err != nil || !now.Before(exp) {
		return nil, errTicketInvalid
	}
	// The hash is of the sealed bytes, not of the text: two spellings of
	// one ticket (base64's spare bits) are one ticket.
	t := H5Ticket{ID: ticketHash(sealed), AccountID: f[2], Purpose: f[3], RelativeID: f[4], ExpiresAt: exp, UsedAt: &now, CreatedAt: now}
	switch err := s.db.WithContext(ctx).Create(&t).Error; {
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return nil, errTicketInvalid
	case err != nil:
		return nil, databaseError(err)
	}
	return &t, nil
}

// maxTicketLength bounds the ticket text read: a sealed payload of the
// longest identifiers is well under it.
const maxTicketLength = 512

func ticketHash(sealed []byte) string {
	sum := sha256.Sum256(sealed)
	return hex.EncodeToString(sum[:])
}
