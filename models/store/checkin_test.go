package store_test

import (
	"context"
	"slices"
	"testing"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

// A batch of visits is all or nothing: a check-in that cannot be stored
// leaves none of the batch's others behind.
func TestRecordVisitsIsOneTransaction(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := store.NewStore(db, storetest.Vault(t), &setClock{now: purgeNow}, shanghai)
		person := []models.CheckIn{{PersonID: "p", PersonNo: 1, MaskedName: "张*", MaskedDoc: "11**2X", Colour: models.Green}}
		a := models.NewVisit("acct", "venue", slices.Clone(person), purgeNow)
		b := models.NewVisit("acct", "venue", slices.Clone(person), purgeNow)
		b.CheckIns[0].ID = a.CheckIns[0].ID // the same key twice: the insert fails
		if err := s.RecordVisits(ctx, []*models.Visit{a, b}); err == nil {
			t.Fatal("a batch with a duplicate check-in was stored")
		}
		var n int64
		db.Model(&models.CheckIn{}).Count(&n)
		if n != 0 {
			t.Errorf("%d check-ins left by a failed batch", n)
		}
		c := models.NewVisit("acct", "venue", slices.Clone(person), purgeNow)
		if err := s.RecordVisits(ctx, []*models.Visit{a, c}); err != nil {
			t.Fatal(err)
		}
		db.Model(&models.CheckIn{}).Count(&n)
		if n != 2 {
			t.Errorf("%d check-ins, want 2", n)
		}
	})
}
