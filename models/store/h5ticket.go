package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"healthcode/models"
	"healthcode/models/fault"

	"gorm.io/gorm"
)

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
func (s *Store) RedeemH5Ticket(ctx context.Context, ticket string) (*models.H5Ticket, error) {
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
	t := models.H5Ticket{ID: ticketHash(sealed), AccountID: f[2], Purpose: f[3], RelativeID: f[4], ExpiresAt: exp, UsedAt: &now, CreatedAt: now}
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
