package models

import (
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
