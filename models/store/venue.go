package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"healthcode/models"
	"healthcode/models/fault"
)

var (
	errVenueNotFound = fault.Errorf(fault.KindNotFound, fault.CodeVenueNotFound, "场所不存在")
	errNotRegistrar  = fault.Errorf(fault.KindForbidden, fault.CodeVenueNotRegistrar, "只有场所登记人可以进行此操作")
)

// venuesVersionName names the venues' version counter.
const venuesVersionName = "venues"

// touchVenue bumps the venues' counter inside tx and marks the venue's row
// with it, so registries read the change.
func touchVenue(tx *gormDB, id string, now time.Time) error {
	if err := bumpVersion(tx, venuesVersionName, now); err != nil {
		return err
	}
	rev, err := readVersion(tx, venuesVersionName)
	if err != nil {
		return err
	}
	return tx.Model(&models.Venue{}).Where("id = ?", id).Update("rev", rev).Error
}

// Limits on one registrar's venues: every venue, ended ones too, is held in
// every node's memory, so one account may not register without end.
const (
	// MaxLiveVenues is how many active or pending venues one account holds.
	MaxLiveVenues = 200
	// MaxVenuesPerDay is how many venues one account registers in 24 hours.
	MaxVenuesPerDay = 20
)

var (
	errTooManyVenues = fault.Errorf(fault.KindForbidden, fault.CodeVenueLimit, "每个账号最多同时登记 %d 个场所，请先注销不再使用的场所", MaxLiveVenues)
	errVenuesToday   = fault.Errorf(fault.KindForbidden, fault.CodeVenueLimit, "每个账号一天内最多登记 %d 个场所，请明天再来", MaxVenuesPerDay)
)

// RegisterVenue registers a venue for the account, whose person (registrarNo)
// becomes its registrar, audited. The caller has checked the account is
// green. Errors: KindInvalid for a bad application, KindForbidden with
// CodeVenueLimit past MaxLiveVenues or MaxVenuesPerDay.
func (s *Store) RegisterVenue(ctx context.Context, accountID string, registrarNo uint32, app models.VenueApplication, requestID string) (*models.Venue, error) {
	state, err := app.Validate()
	if err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	v := &models.Venue{ID: models.NewID(), RegistrarAccountID: accountID, RegistrarPersonNo: registrarNo, Name: app.Name, Address: app.Address,
		District: app.District, Kind: app.Kind, CreditCode: app.CreditCode, State: state, Generation: 1, CodeIssuedAt: now, CreatedAt: now}
	err = s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		// The account's row, locked, orders its registrations: the limits
		// below hold also for ones made at once.
		if err := tx.Clauses(lockForUpdate).Select("id").Take(&models.Account{}, "id = ?", accountID).Error; err != nil {
			return notFoundAs(err, errAccountNotFound)
		}
		var counts struct{ Live, Today int64 }
		if err := tx.Model(&models.Venue{}).Where("registrar_account_id = ?", accountID).
			Select("COALESCE(SUM(CASE WHEN state IN ? THEN 1 ELSE 0 END), 0) AS live, COALESCE(SUM(CASE WHEN created_at > ? THEN 1 ELSE 0 END), 0) AS today",
				[]string{models.VenueActive, models.VenuePendingReview}, now.Add(-24*time.Hour)).Scan(&counts).Error; err != nil {
			return err
		}
		switch {
		case counts.Live >= MaxLiveVenues:
			return errTooManyVenues
		case counts.Today >= MaxVenuesPerDay:
			return errVenuesToday
		}
		if err := tx.Create(v).Error; err != nil {
			return err
		}
		if err := touchVenue(tx, v.ID, now); err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: "account:" + accountID, Action: "venue.register", Subject: v.ID,
			Detail: "state=" + state + " credit_code=" + v.CreditCodeMasked(), RequestID: requestID}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("register venue: %w", err)
	}
	return v, nil
}

// managedBy is the condition on venues that an account (its id, given
// twice) may manage one: as its registrar, or as a deputy, while the account
// holds the person the right was given to. Rights are the person's through
// their account: an account that lost its identity (an operator's unbind,
// the person moving to another phone) loses them, another person bound to
// it later gets none, and the person's next account takes them over
// (moveVenues).
const managedBy = `(venues.registrar_account_id = ? AND EXISTS (SELECT 1 FROM accounts a JOIN persons p ON p.id = a.person_id
	WHERE a.id = venues.registrar_account_id AND p.no = venues.registrar_person_no))
 OR EXISTS (SELECT 1 FROM venue_deputies d JOIN persons p ON p.no = d.person_no JOIN accounts a ON a.person_id = p.id
	WHERE d.venue_id = venues.id AND a.id = ?)`

// VenuesOf lists the venues an account manages (registered or deputises
// for), newest first (ended ones included), at most 1000: two reads by
// index, the registrar's and the deputy's, not a scan of every venue.
func (s *Store) VenuesOf(ctx context.Context, accountID string) ([]models.Venue, error) {
	db := s.db.WithContext(ctx)
	no, err := heldPersonNo(db, accountID)
	if err != nil || no == 0 {
		return nil, err
	}
	var mine, deputy []models.Venue
	if err := db.Where("registrar_account_id = ? AND registrar_person_no = ?", accountID, no).Order("created_at DESC, id").Limit(1000).Find(&mine).Error; err != nil {
		return nil, fmt.Errorf("list venues: %w", err)
	}
	if err := db.Where("id IN (SELECT venue_id FROM venue_deputies WHERE person_no = ?)", no).Order("created_at DESC, id").Limit(1000).Find(&deputy).Error; err != nil {
		return nil, fmt.Errorf("list venues: %w", err)
	}
	out := append(mine, deputy...)
	slices.SortFunc(out, func(a, b models.Venue) int { return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	out = slices.CompactFunc(out, func(a, b models.Venue) bool { return a.ID == b.ID })
	return out[:min(len(out), 1000)], nil
}

// venueFor reads a venue the account manages; any other venue is
// KindNotFound, never revealing that it exists.
func venueFor(tx *gormDB, accountID, id string) (*models.Venue, error) {
	var v models.Venue
	err := tx.Where("venues.id = ? AND ("+managedBy+")", id, accountID, accountID).Take(&v).Error
	if err != nil {
		return nil, notFoundAs(err, errVenueNotFound)
	}
	return &v, nil
}

// VenueFor returns a venue the account registered or deputises for.
// Errors: KindNotFound for any other.
func (s *Store) VenueFor(ctx context.Context, accountID, id string) (*models.Venue, error) {
	return venueFor(s.db.WithContext(ctx), accountID, id)
}

// heldPersonNo is the number of the person the account holds, 0 for none.
func heldPersonNo(tx *gormDB, accountID string) (uint32, error) {
	var nos []uint32
	err := tx.Table("accounts a").Joins("JOIN persons p ON p.id = a.person_id").Where("a.id = ?", accountID).Limit(1).Pluck("p.no", &nos).Error
	if err != nil || len(nos) == 0 {
		return 0, err
	}
	return nos[0], nil
}

// changeVenue applies change to a venue of its registrar inside one
// transaction with the registry's version and the audit entry. A deputy is
// KindForbidden, a stranger KindNotFound.
func (s *Store) changeVenue(ctx context.Context, accountID, id, action, requestID string, change func(tx *gormDB, v *models.Venue, now time.Time) error) (*models.Venue, error) {
	now := s.clock.Now().UTC()
	var v *models.Venue
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		var err error
		if v, err = venueFor(tx.Clauses(lockForUpdate), accountID, id); err != nil {
			return err
		}
		// The registrar's account, while it holds the registrar: a deputy
		// bound to that account later is still only a deputy.
		if v.RegistrarAccountID != accountID {
			return errNotRegistrar
		}
		if no, err := heldPersonNo(tx, accountID); err != nil {
			return err
		} else if no != v.RegistrarPersonNo {
			return errNotRegistrar
		}
		if err := change(tx, v, now); err != nil {
			return err
		}
		if err := touchVenue(tx, v.ID, now); err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: "account:" + accountID, Action: action, Subject: id, RequestID: requestID}).Error
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// EndVenue ends a venue: its code verifies as revoked from then on. An
// ended venue is KindConflict.
func (s *Store) EndVenue(ctx context.Context, accountID, id, requestID string) (*models.Venue, error) {
	return s.changeVenue(ctx, accountID, id, "venue.end", requestID, func(tx *gormDB, v *models.Venue, now time.Time) error {
		if v.State == models.VenueEnded {
			return models.ErrVenueInactive
		}
		v.State, v.EndedAt = models.VenueEnded, &now
		return tx.Model(v).Select("state", "ended_at").Updates(v).Error
	})
}

// RotateVenueCode makes a new generation of a venue's code: the old posters
// verify as revoked (rotated). An ended or rejected venue is KindConflict.
func (s *Store) RotateVenueCode(ctx context.Context, accountID, id, requestID string) (*models.Venue, error) {
	return s.changeVenue(ctx, accountID, id, "venue.rotate", requestID, func(tx *gormDB, v *models.Venue, now time.Time) error {
		if v.State == models.VenueEnded || v.State == models.VenueRejected {
			return models.ErrVenueInactive
		}
		v.Generation, v.CodeIssuedAt = v.Generation+1, now
		return tx.Model(v).Select("generation", "code_issued_at").Updates(v).Error
	})
}

// AddVenueDeputy lets another account view a venue's records, audited.
// Errors: KindNotFound for an unknown account or a stranger's venue,
// KindForbidden for a deputy asking, KindConflict beyond MaxVenueDeputies.
func (s *Store) AddVenueDeputy(ctx context.Context, accountID, id, deputyID, requestID string) error {
	_, err := s.changeVenue(ctx, accountID, id, "venue.deputy_add", requestID, func(tx *gormDB, v *models.Venue, now time.Time) error {
		var deputy models.Account
		if err := tx.Take(&deputy, "id = ?", deputyID).Error; err != nil {
			return notFoundAs(err, errAccountNotFound)
		}
		if deputyID == accountID {
			return fault.Errorf(fault.KindInvalid, fault.CodeInvalidDeputy, "登记人本人无需添加为协管人")
		}
		var n int64
		if err := tx.Model(&models.VenueDeputy{}).Where("venue_id = ?", id).Count(&n).Error; err != nil {
			return err
		}
		if n >= models.MaxVenueDeputies {
			return fault.Errorf(fault.KindConflict, fault.CodeVenueDeputyLimit, "每个场所最多%d名协管人", models.MaxVenueDeputies)
		}
		// The right is the person's the deputy account holds.
		var p models.Person
		if deputy.PersonID == nil || tx.Select("no").Take(&p, "id = ?", *deputy.PersonID).Error != nil {
			return fault.Errorf(fault.KindInvalid, fault.CodeInvalidDeputy, "协管人须先完成实名认证")
		}
		d := models.VenueDeputy{VenueID: id, PersonNo: p.No, AddedBy: accountID, AddedAt: now}
		return tx.Where(models.VenueDeputy{VenueID: id, PersonNo: p.No}).FirstOrCreate(&d).Error
	})
	return err
}

// VenueReviews lists venues of a state (pending_review by default), oldest
// first.
func (s *Store) VenueReviews(ctx context.Context, state string) ([]models.Venue, error) {
	var out []models.Venue
	if err := s.db.WithContext(ctx).Where("state = ?", state).Order("created_at, id").Limit(1000).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list venue reviews: %w", err)
	}
	return out, nil
}

// DecideVenueReview approves (active) or rejects a venue pending review,
// with a note the registrar sees, audited. A venue not pending is
// KindConflict.
func (s *Store) DecideVenueReview(ctx context.Context, id, decision, note, actor, requestID string) (*models.Venue, error) {
	state := map[string]string{"approve": models.VenueActive, "reject": models.VenueRejected}[decision]
	if state == "" {
		return nil, fault.Errorf(fault.KindInvalid, fault.CodeInvalidDecision, "decision 只能是 approve 或 reject")
	}
	if err := checkReviewNote(note); err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	var v models.Venue
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Clauses(lockForUpdate).Take(&v, "id = ?", id).Error; err != nil {
			return notFoundAs(err, errVenueNotFound)
		}
		if v.State != models.VenuePendingReview {
			return fault.Errorf(fault.KindConflict, fault.CodeVenueReviewClosed, "该申请已处理")
		}
		v.State, v.DecidedAt, v.DecidedBy, v.ReviewNote = state, &now, actor, note
		if state == models.VenueRejected {
			v.EndedAt = &now // a rejected venue ends, and is purged as an ended one
		}
		if err := tx.Model(&v).Select("state", "decided_at", "decided_by", "review_note", "ended_at").Updates(&v).Error; err != nil {
			return err
		}
		if err := touchVenue(tx, id, now); err != nil {
			return err
		}
		return tx.Create(&models.AuditEntry{At: now, Actor: actor, Action: "venue.review", Subject: id,
			Detail: "decision=" + decision, RequestID: requestID}).Error
	})
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// moveVenues gives account to, which now holds person p, the venues p
// registered, wherever they were left (an account p has moved away from,
// or one an operator unbound); deputyships are the person's already.
// Returns how many moved.
func moveVenues(tx *gormDB, p *models.Person, to string, now time.Time) (int64, error) {
	var ids []string
	if err := tx.Model(&models.Venue{}).Where("registrar_person_no = ? AND registrar_account_id <> ?", p.No, to).Pluck("id", &ids).Error; err != nil {
		return 0, err
	}
	if len(ids) > 0 {
		if err := tx.Model(&models.Venue{}).Where("id IN ?", ids).Update("registrar_account_id", to).Error; err != nil {
			return 0, err
		}
		for _, id := range ids {
			if err := touchVenue(tx, id, now); err != nil {
				return 0, err
			}
		}
	}
	return int64(len(ids)), nil
}
