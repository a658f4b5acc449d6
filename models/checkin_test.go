package models_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/storetest"
)

// A batch of visits is all or nothing: a ticket that cannot be stored
// leaves none of the batch's check-ins behind.
func TestRecordVisitsIsOneTransaction(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := models.NewStore(db, storetest.Vault(t), &setClock{now: purgeNow}, shanghai)
		person := []models.CheckIn{{PersonID: "p", PersonNo: 1, MaskedName: "张*", MaskedDoc: "11**2X", Colour: models.Green}}
		a, _ := models.NewVisit("acct", "venue", slices.Clone(person), purgeNow, time.Minute)
		b, _ := models.NewVisit("acct", "venue", slices.Clone(person), purgeNow, time.Minute)
		b.Ticket.ID = a.Ticket.ID // the same ticket twice: the second insert fails
		if err := s.RecordVisits(ctx, []*models.Visit{a, b}); err == nil {
			t.Fatal("a batch with a duplicate ticket was stored")
		}
		var n int64
		db.Model(&models.CheckIn{}).Count(&n)
		if n != 0 {
			t.Errorf("%d check-ins left by a failed batch", n)
		}
		c, _ := models.NewVisit("acct", "venue", slices.Clone(person), purgeNow, time.Minute)
		if err := s.RecordVisits(ctx, []*models.Visit{a, c}); err != nil {
			t.Fatal(err)
		}
		db.Model(&models.CheckIn{}).Count(&n)
		if n != 2 {
			t.Errorf("%d check-ins, want 2", n)
		}
	})
}
