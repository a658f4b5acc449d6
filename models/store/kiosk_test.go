package store_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/fault"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

// TestKioskBookReachesEveryNode: two stores on one database, the second
// node's kiosk book polled every 2 s as serve does. A kiosk is refused on
// either node before anything is loaded and with a wrong key; one
// registered on the first node authenticates on the second within 5 s, and
// once deleted stops authenticating there within 5 s, the bound of the role
// books. ByKey takes no context and no store: it cannot reach the database.
func TestKioskBookReachesEveryNode(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		vault := storetest.Vault(t)
		a := store.NewStore(db, vault, models.SystemClock{}, shanghai)
		b := store.NewStore(db, vault, models.SystemClock{}, shanghai)
		bookA, bookB := models.NewKioskBook(), models.NewKioskBook()
		if _, err := bookB.ByKey("anything"); fault.CodeOf(err) != "kiosk_required" {
			t.Fatalf("an unloaded book: %v", err)
		}
		if err := b.RefreshKiosks(ctx, bookB); err != nil {
			t.Fatal(err)
		}
		pollAsServeDoes(t, func(ctx context.Context) { b.RefreshKiosks(ctx, bookB) })

		k, key, err := a.RegisterKiosk(ctx, "社区自助机", "徐汇区某街道", "test", "")
		if err != nil {
			t.Fatal(err)
		}
		if err := a.RefreshKiosks(ctx, bookA); err != nil {
			t.Fatal(err)
		}
		if got, err := bookA.ByKey(key); err != nil || got.ID != k.ID || got.Name != "社区自助机" || got.Place != "徐汇区某街道" {
			t.Fatalf("the registering node: %+v, %v", got, err)
		}
		if _, err := bookA.ByKey(key + "x"); fault.CodeOf(err) != "kiosk_required" {
			t.Errorf("a wrong key: %v", err)
		}
		authenticates := func(want bool) {
			t.Helper()
			start := time.Now()
			for {
				got, err := bookB.ByKey(key)
				if (err == nil) == want && (!want || got.ID == k.ID) {
					t.Logf("authenticates %v on the second node after %v", want, time.Since(start).Round(time.Millisecond))
					return
				}
				if !want && fault.CodeOf(err) != "kiosk_required" && err != nil {
					t.Fatalf("refused with %v, want kiosk_required", err)
				}
				if time.Since(start) > 5*time.Second {
					t.Fatalf("the kiosk authenticates %v on the second node after 5 s, want %v (%v)", !want, want, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		authenticates(true)
		if err := a.DeleteKiosk(ctx, k.ID, "test", ""); err != nil {
			t.Fatal(err)
		}
		if err := a.RefreshKiosks(ctx, bookA); err != nil {
			t.Fatal(err)
		}
		if _, err := bookA.ByKey(key); fault.CodeOf(err) != "kiosk_required" {
			t.Errorf("the deleting node still admits the kiosk: %v", err)
		}
		authenticates(false)
		if err := a.DeleteKiosk(ctx, k.ID, "test", ""); fault.CodeOf(err) != "kiosk_not_found" {
			t.Errorf("deleted twice: %v", err)
		}
	})
}
