package models

import (
	"crypto/sha256"
	"time"

	"healthcode/models/fault"
)

// Kiosk is a registered self-service kiosk that prints offline codes. Its
// key is shown once and kept as its SHA-256 (a random 256-bit key).
type Kiosk struct {
	ID        string `gorm:"primaryKey;size:32"`
	Name      string `gorm:"size:64;not null"`
	Place     string `gorm:"size:128;not null"`
	KeyHash   []byte `gorm:"size:32;not null"`
	CreatedAt time.Time
	DeletedAt *time.Time
}

// TableName names the table.
func (Kiosk) TableName() string { return "kiosks" }

var (
	// ErrKioskRequired: no kiosk key, or one not registered (401).
	ErrKioskRequired = fault.Errorf(fault.KindUnauthorized, fault.CodeKioskRequired, "自助机未登记或密钥无效")
)

// KioskBook holds the registered kiosks in memory by the hash of their
// key, so a kiosk's request is authenticated without a database read: an
// immutable snapshot, swapped whole when a kiosk is registered or deleted
// (on any node: store.Store.RefreshKiosks polls the counter as the role books
// do). It is safe for concurrent use.
type KioskBook struct {
	snapshotBook[map[[sha256.Size]byte]Kiosk]
}

// NewKioskBook returns an empty book; load it with store.Store.RefreshKiosks.
func NewKioskBook() *KioskBook { return &KioskBook{} }

// ByKey returns the registered kiosk holding key, or ErrKioskRequired.
func (b *KioskBook) ByKey(key string) (*Kiosk, error) {
	kiosks, _ := b.load()
	k, ok := kiosks[sha256.Sum256([]byte(key))]
	if !ok {
		return nil, ErrKioskRequired
	}
	return &k, nil
}

// Refresh swaps in a new snapshot of the registered kiosks when read says
// they changed since the book's (or always, the first time). Errors are
// read's.
func (b *KioskBook) Refresh(read SnapshotRead[map[[sha256.Size]byte]Kiosk]) error {
	return b.refresh(read)
}

// OfflinePreview is what a kiosk shows before printing.
type OfflinePreview struct {
	MaskedName string `json:"masked_name"`
	MaskedDoc  string `json:"masked_doc"`
	Eligible   bool   `json:"eligible"`
	Reason     string `json:"reason"`
}
