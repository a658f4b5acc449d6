package models

import (
	"time"

	"healthcode/models/fault"
)

// Sampler is an account allowed to register nucleic-acid samples, at a
// sampling site.
type Sampler struct {
	AccountID string `gorm:"primaryKey;size:32"`
	Site      string
	GrantedBy string
	GrantedAt time.Time
	RevokedAt *time.Time
}

// TableName names the table.
func (Sampler) TableName() string { return "samplers" }

// SamplerBook holds the active samplers in memory, so registration checks
// the role without a database read: the verifier book's mechanism, an
// immutable snapshot swapped whole. It is safe for concurrent use.
type SamplerBook struct{ book roleBook }

// NewSamplerBook returns an empty book; load it with store.Store.RefreshSamplers.
func NewSamplerBook() *SamplerBook {
	return &SamplerBook{book: roleBook{denied: fault.Errorf(fault.KindForbidden, fault.CodeNotSampler, "您没有采样权限")}}
}

// Site returns the site of an active sampler, or an *Error of
// KindForbidden with CodeNotSampler.
func (b *SamplerBook) Site(accountID string) (string, error) { return b.book.place(accountID) }

// Refresh swaps in a new snapshot of the roles when read says they changed
// since the book's (or always, the first time). Errors are read's.
func (b *SamplerBook) Refresh(read SnapshotRead[map[string]string]) error {
	return b.book.places.refresh(read)
}
