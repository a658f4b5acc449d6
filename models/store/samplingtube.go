package store

import (
	"context"
	"fmt"
	"time"

	"healthcode/models"
	"healthcode/models/fault"

	"gorm.io/gorm/clause"
)

var (
	errBadMode     = fault.Errorf(fault.KindInvalid, fault.CodeInvalidMode, "采样模式只能是1、10或20")
	errTubeExists  = fault.Errorf(fault.KindConflict, fault.CodeTubeExists, "该试管已开管")
	errTubeMissing = fault.Errorf(fault.KindNotFound, fault.CodeTubeNotFound, "未找到该试管")
	errTubeSealed  = fault.Errorf(fault.KindConflict, fault.CodeTubeSealed, "该试管已封管")
	errTubeFull    = fault.Errorf(fault.KindConflict, fault.CodeTubeFull, "该试管已满")
	errInTube      = fault.Errorf(fault.KindConflict, fault.CodeAlreadyInTube, "此人已在该试管中")
)

// OpenTube opens a new tube of mode (1, 10 or 20) for a sampler at site.
// Errors: KindInvalid for a bad barcode or mode, KindConflict with
// CodeTubeExists for a tube opened before (anywhere).
func (s *Store) OpenTube(ctx context.Context, tube string, mode int, site, samplerID string) (*models.Tube, error) {
	if err := models.CheckTube(tube); err != nil {
		return nil, err
	}
	if mode != 1 && mode != 10 && mode != models.MaxTubeMode {
		return nil, errBadMode
	}
	t := &models.Tube{Tube: tube, Mode: mode, Site: site, SamplerAccountID: samplerID, State: models.TubeOpen, OpenedAt: s.clock.Now().UTC()}
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(t)
	if res.Error != nil {
		return nil, fmt.Errorf("open tube: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, errTubeExists
	}
	return t, nil
}

// SealTube seals an open tube of the site; sealing a sealed tube answers it
// as it is. A mixed tube with fewer people than its mode is sealed short.
// Errors: KindNotFound with CodeTubeNotFound (also for another site's).
func (s *Store) SealTube(ctx context.Context, tube, site string) (*models.Tube, error) {
	var t models.Tube
	err := s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		if err := tx.Clauses(lockForUpdate).Where("tube = ?", tube).Limit(1).Find(&t).Error; err != nil {
			return err
		}
		if t.Tube == "" || t.Site != site {
			return errTubeMissing
		}
		if t.State == models.TubeSealed {
			return nil
		}
		now := s.clock.Now().UTC()
		t.State, t.SealedAt, t.Short = models.TubeSealed, &now, t.Mode > 1 && t.Count < t.Mode
		return tx.Model(&models.Tube{}).Where("tube = ?", tube).Updates(map[string]any{"state": t.State, "sealed_at": now, "short": t.Short}).Error
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// tubeTakes says inside tx whether the site's tube would take one more
// sample now: nil, or the refusal the registration would get.
func tubeTakes(tx *gormDB, tube, site string) error {
	var t models.Tube
	if err := tx.Where("tube = ?", tube).Limit(1).Find(&t).Error; err != nil {
		return fmt.Errorf("read tube: %w", err)
	}
	switch {
	case t.Tube == "" || t.Site != site:
		return errTubeMissing
	case t.State != models.TubeOpen:
		return errTubeSealed
	case t.Count >= t.Mode:
		return errTubeFull
	}
	return nil
}

// TubeOf returns a tube of the site and its samples in order. Errors:
// KindNotFound with CodeTubeNotFound (also for another site's).
func (s *Store) TubeOf(ctx context.Context, tube, site string) (*models.Tube, []models.Sample, error) {
	var t models.Tube
	db := s.db.WithContext(ctx)
	if err := db.Where("tube = ?", tube).Limit(1).Find(&t).Error; err != nil {
		return nil, nil, fmt.Errorf("read tube: %w", err)
	}
	if t.Tube == "" || t.Site != site {
		return nil, nil, errTubeMissing
	}
	var samples []models.Sample
	if err := db.Where("tube = ?", tube).Order("position").Find(&samples).Error; err != nil {
		return nil, nil, fmt.Errorf("read samples: %w", err)
	}
	return &t, samples, nil
}

// maxDayTubes bounds a sampler's day summary.
const maxDayTubes = 5000

// TubesOpenedBy returns the tubes a sampler opened in [from, to), oldest
// first (at most 5000). Errors are the database's.
func (s *Store) TubesOpenedBy(ctx context.Context, samplerID string, from, to time.Time) ([]models.Tube, error) {
	var out []models.Tube
	err := s.db.WithContext(ctx).Where("sampler_account_id = ? AND opened_at >= ? AND opened_at < ?", samplerID, from.UTC(), to.UTC()).
		Order("opened_at, tube").Limit(maxDayTubes).Find(&out).Error
	return out, err
}
