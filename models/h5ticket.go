package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"
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

// H5Ticket is a one-time ticket that lets the mini-program's web-view open a
// page without a long-lived token in its URL. Only its hash is stored.
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

// CodeTicketInvalid is the error code of a used, expired or unknown ticket.
const CodeTicketInvalid = "ticket_invalid"

// newH5Ticket makes a ticket valid for ttl from now and the row that stores
// its hash.
func newH5Ticket(accountID, purpose, relativeID string, ttl time.Duration, now time.Time) (string, H5Ticket) {
	raw := make([]byte, 24)
	rand.Read(raw)
	ticket := base64.RawURLEncoding.EncodeToString(raw)
	return ticket, H5Ticket{ID: ticketHash(ticket), AccountID: accountID, Purpose: purpose, RelativeID: relativeID,
		ExpiresAt: now.Add(ttl), CreatedAt: now}
}

// CreateH5Ticket makes a ticket valid for ttl and returns it.
func (s *Store) CreateH5Ticket(ctx context.Context, accountID, purpose, relativeID string, ttl time.Duration) (string, error) {
	ticket, t := newH5Ticket(accountID, purpose, relativeID, ttl, s.clock.Now().UTC())
	if err := s.db.WithContext(ctx).Create(&t).Error; err != nil {
		return "", fmt.Errorf("create page ticket: %w", err)
	}
	return ticket, nil
}

// RedeemH5Ticket uses a ticket up: it returns it once, then never again. A
// used, expired or unknown ticket is an *Error of KindUnauthorized.
func (s *Store) RedeemH5Ticket(ctx context.Context, ticket string) (*H5Ticket, error) {
	now := s.clock.Now().UTC()
	id := ticketHash(ticket)
	var t H5Ticket
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		res := tx.Model(&H5Ticket{}).Where("id = ? AND used_at IS NULL AND expires_at > ?", id, now).Update("used_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return Errorf(KindUnauthorized, CodeTicketInvalid, "页面链接已失效，请在小程序中重新打开")
		}
		return tx.Take(&t, "id = ?", id).Error
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func ticketHash(ticket string) string {
	sum := sha256.Sum256([]byte(ticket))
	return hex.EncodeToString(sum[:])
}
