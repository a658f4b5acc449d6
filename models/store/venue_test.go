package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"healthcode/models"
	"healthcode/models/codetoken"
	"healthcode/models/fault"
	"healthcode/models/store"
	"healthcode/models/storetest"
)

// registrarAccount makes an account holding a registrar's identity (venue
// rights are the person's through it) and returns it with the person's
// number.
func registrarAccount(t *testing.T, db *gorm.DB, s *store.Store) (*models.Account, uint32) {
	t.Helper()
	ctx := context.Background()
	acct, err := s.UpsertAccount(ctx, "sandbox", "registrar", "")
	if err != nil {
		t.Fatal(err)
	}
	registrar, err := s.EnsurePerson(ctx, "欧阳娜娜", mustParse(t, "resident_id", "11010519491231002X"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Model(&models.Account{}).Where("id = ?", acct.ID).Update("person_id", registrar.ID).Error; err != nil {
		t.Fatal(err)
	}
	return acct, registrar.No
}

// TestVenueRegistryFollowsChanges: the registry in memory reads only the
// venues changed since its snapshot, and the venue policy answers from it.
func TestVenueRegistryFollowsChanges(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		clock := &setClock{now: purgeNow}
		s := store.NewStore(db, storetest.Vault(t), clock, shanghai)
		acct, no := registrarAccount(t, db, s)
		book := models.NewVenueBook()
		if err := s.RefreshVenues(ctx, book); err != nil || book.Len() != 0 {
			t.Fatalf("empty registry: %d %v", book.Len(), err)
		}
		app := func(name, credit string) models.VenueApplication {
			return models.VenueApplication{Name: name, CreditCode: credit, Address: "上海市黄浦区南京东路1号", District: "310101", Kind: "shop"}
		}
		shop, err := s.RegisterVenue(ctx, acct.ID, no, app("南京路商店", "91350100M000100Y43"), "req")
		if err != nil {
			t.Fatal(err)
		}
		pilot, err := s.RegisterVenue(ctx, acct.ID, no, app("试点商店", "91350100M000100Y44"), "req")
		if err != nil || pilot.State != models.VenuePendingReview {
			t.Fatalf("pilot = %+v %v", pilot, err)
		}
		if _, err := s.RegisterVenue(ctx, acct.ID, no, app("坏代码", "913501"), "req"); fault.CodeOf(err) != "invalid_credit_code" {
			t.Errorf("malformed credit code: %v", err)
		}
		policy := models.VenuePolicy{Venues: book}
		reason := func(id string, serial int64) string {
			t.Helper()
			r, err := policy.Revoked(ctx, codetoken.Claims{Subject: id, Serial: serial, Kind: codetoken.KindVenue})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		if r := reason(shop.ID, 1); r != models.ReasonVenueUnknown {
			t.Errorf("before a refresh: %q", r)
		}
		if err := s.RefreshVenues(ctx, book); err != nil || book.Len() != 2 {
			t.Fatalf("registry of %d: %v", book.Len(), err)
		}
		if e, ok := book.Venue(shop.ID); !ok || e.RegistrarPersonNo != no || e.State != models.VenueActive || e.Generation != 1 {
			t.Errorf("entry = %+v %v", e, ok)
		}
		if r := reason(shop.ID, 1); r != "" {
			t.Errorf("active venue: %q", r)
		}
		if r := reason(pilot.ID, 1); r != models.ReasonVenuePending {
			t.Errorf("pending venue: %q", r)
		}
		// A rotation and an end: one refresh reads just those two rows.
		if _, err := s.RotateVenueCode(ctx, acct.ID, shop.ID, "req"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.EndVenue(ctx, acct.ID, pilot.ID, "req"); err != nil {
			t.Fatal(err)
		}
		var changed int64
		db.Model(&models.Venue{}).Where("rev > ?", 2).Count(&changed)
		if err := s.RefreshVenues(ctx, book); err != nil || book.Len() != 2 || changed != 2 {
			t.Fatalf("registry of %d after changes (%d changed rows): %v", book.Len(), changed, err)
		}
		if r := reason(shop.ID, 1); r != models.ReasonVenueRotated {
			t.Errorf("old generation: %q", r)
		}
		if r := reason(shop.ID, 2); r != "" {
			t.Errorf("new generation: %q", r)
		}
		if r := reason(pilot.ID, 1); r != models.ReasonVenueEnded {
			t.Errorf("ended venue: %q", r)
		}
		// A stranger cannot change or read it.
		other, _ := s.UpsertAccount(ctx, "sandbox", "stranger", "")
		if _, err := s.EndVenue(ctx, other.ID, shop.ID, "req"); fault.KindOf(err) != fault.KindNotFound {
			t.Errorf("a stranger ends a venue: %v", err)
		}
		if _, err := s.CheckInsOf(ctx, other.ID, shop.ID, models.CheckInQuery{From: purgeNow.Add(-time.Hour), To: purgeNow}, "req"); fault.KindOf(err) != fault.KindNotFound {
			t.Errorf("a stranger reads the register: %v", err)
		}
	})
}

// One account registers at most MaxVenuesPerDay venues in 24 hours and
// holds at most MaxLiveVenues active or pending ones: every venue, ended
// ones too, is held in every node's memory.
func TestOneAccountsVenuesAreBounded(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		clock := &setClock{now: purgeNow}
		s := store.NewStore(db, storetest.Vault(t), clock, shanghai)
		acct, no := registrarAccount(t, db, s)
		app := models.VenueApplication{Name: "南京路商店", CreditCode: "91350100M000100Y43", Address: "上海市黄浦区南京东路1号", District: "310101", Kind: "shop"}
		register := func() (*models.Venue, error) { return s.RegisterVenue(ctx, acct.ID, no, app, "req") }
		var first *models.Venue
		for i := range store.MaxVenuesPerDay {
			v, err := register()
			if err != nil {
				t.Fatalf("venue %d: %v", i+1, err)
			}
			if first == nil {
				first = v
			}
		}
		// Ending one frees no registration of the day.
		if _, err := s.EndVenue(ctx, acct.ID, first.ID, "req"); err != nil {
			t.Fatal(err)
		}
		if _, err := register(); fault.CodeOf(err) != fault.CodeVenueLimit {
			t.Fatalf("venue %d of the day: %v, want venue_limit", store.MaxVenuesPerDay+1, err)
		}
		// Day after day up to the live limit, then no more.
		for day := 2; ; day++ {
			if day > store.MaxLiveVenues/store.MaxVenuesPerDay+3 {
				t.Fatal("the live limit never held")
			}
			clock.Set(clock.Now().Add(24*time.Hour + time.Minute))
			took := 0
			for range store.MaxVenuesPerDay + 1 {
				if _, err := register(); err != nil {
					if fault.CodeOf(err) != fault.CodeVenueLimit {
						t.Fatal(err)
					}
					break
				}
				took++
			}
			if took > store.MaxVenuesPerDay {
				t.Fatalf("day %d took %d venues", day, took)
			}
			if took == 0 {
				break
			}
		}
		var n int64
		db.Table("venues").Where("registrar_account_id = ? AND state IN ?", acct.ID, []string{models.VenueActive, models.VenuePendingReview}).Count(&n)
		if n != store.MaxLiveVenues {
			t.Errorf("%d live venues, want %d", n, store.MaxLiveVenues)
		}
	})
}

// A refresh reads the registry in batches by (version, id): a cold start
// gets every venue, also ones that share a version across a batch's end,
// and a later refresh only those changed since.
func TestVenueRefreshReadsInBatches(t *testing.T) {
	storetest.Drivers(t, func(t *testing.T, db *gorm.DB) {
		store.SetVenueBatch(t, 3)
		ctx := context.Background()
		s := store.NewStore(db, storetest.Vault(t), &setClock{now: purgeNow}, shanghai)
		var ids []string
		for i := range 8 {
			acct, err := s.UpsertAccount(ctx, "sandbox", fmt.Sprintf("registrar-%d", i), "")
			if err != nil {
				t.Fatal(err)
			}
			v, err := s.RegisterVenue(ctx, acct.ID, uint32(i+1), models.VenueApplication{Name: fmt.Sprintf("第%d号商店", i), CreditCode: "91350100M000100Y43",
				Address: "上海市黄浦区南京东路1号", District: "310101", Kind: "shop"}, "req")
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, v.ID)
		}
		// Three venues of one version, across the first batch's end.
		var revs []int64
		db.Table("venues").Order("rev").Pluck("rev", &revs)
		if err := db.Exec("UPDATE venues SET rev = ? WHERE rev IN ?", revs[2], []int64{revs[2], revs[3], revs[4]}).Error; err != nil {
			t.Fatal(err)
		}
		book := models.NewVenueBook()
		if err := s.RefreshVenues(ctx, book); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if _, ok := book.Venue(id); !ok {
				t.Errorf("venue %s missing after a cold refresh of %d", id, book.Len())
			}
		}
		if book.Len() != len(ids) {
			t.Errorf("%d venues in the book, want %d", book.Len(), len(ids))
		}
	})
}
