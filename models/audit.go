package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// AuditEntry records who did what to whom. Subject and Detail hold opaque
// ids and masked data only, never a name or document number in clear.
type AuditEntry struct {
	ID      uint64 `gorm:"primaryKey;autoIncrement"`
	At      time.Time
	Actor   string // "account:<id>", "operator:<key id>" or "system"
	Action  string // for example "identity.bind", "relative.lookup"
	Subject string
	Detail  string
	// RequestID is the server's own id of the request that wrote the entry.
	RequestID string
	// ClientRequestID is the id the client (a gateway) sent with the
	// request, when it sent a well-formed one. Left empty, it is filled from
	// the context the entry is written under (WithClientRequestID).
	ClientRequestID string
}

// TableName names the table.
func (AuditEntry) TableName() string { return "audit_log" }

// BeforeCreate fills ClientRequestID from the context of the statement
// writing the entry, so every store method that audits records it without
// passing it along. It never fails.
func (e *AuditEntry) BeforeCreate(tx *gorm.DB) error {
	if e.ClientRequestID == "" && tx.Statement.Context != nil {
		e.ClientRequestID = ClientRequestID(tx.Statement.Context)
	}
	return nil
}

// clientRequestIDKey is the context key of the request id a client sent.
type clientRequestIDKey struct{}

// WithClientRequestID returns ctx carrying id, the request id a client sent
// (already checked by the caller); audit entries written under the returned
// context record it beside the server's own request id.
func WithClientRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, clientRequestIDKey{}, id)
}

// ClientRequestID returns the id WithClientRequestID put in ctx, or "".
func ClientRequestID(ctx context.Context) string {
	id, _ := ctx.Value(clientRequestIDKey{}).(string)
	return id
}
