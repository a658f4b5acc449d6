package store

import (
	"context"

	"healthcode/models"
	"healthcode/models/fault"
)

// samplerRole is where the sampler role is kept.
var samplerRole = role{
	version: "samplers", action: "sampler",
	notFound: fault.Errorf(fault.KindNotFound, fault.CodeSamplerNotFound, "该账号不是采样人员"),
	read: func(tx *gormDB) (map[string]string, error) {
		var rows []models.Sampler
		if err := tx.Where("revoked_at IS NULL").Find(&rows).Error; err != nil {
			return nil, err
		}
		sites := make(map[string]string, len(rows))
		for _, r := range rows {
			sites[r.AccountID] = r.Site
		}
		return sites, nil
	},
}

// RefreshSamplers swaps in a new snapshot of the roles when they changed
// since the book's (or always, the first time). Errors are the database's.
func (s *Store) RefreshSamplers(ctx context.Context, b *models.SamplerBook) error {
	return s.refreshRole(ctx, samplerRole, b.Refresh)
}

// GrantSampler makes an account a sampler at site (or moves it there),
// audited. Errors: KindInvalid for a site that is empty or too long,
// KindNotFound for an unknown account.
func (s *Store) GrantSampler(ctx context.Context, accountID, site, actor, requestID string) (*models.Sampler, error) {
	if site == "" || len([]rune(site)) > 100 {
		return nil, fault.Errorf(fault.KindInvalid, fault.CodeInvalidSite, "请填写采样点（不超过100字）")
	}
	now := s.clock.Now().UTC()
	v := &models.Sampler{AccountID: accountID, Site: site, GrantedBy: actor, GrantedAt: now}
	if err := s.grantRole(ctx, samplerRole, accountID, v, "site="+truncate(site, 300), actor, requestID, now); err != nil {
		return nil, err
	}
	return v, nil
}

// RevokeSampler ends an account's sampler role, audited; an *Error of
// KindNotFound when it has none.
func (s *Store) RevokeSampler(ctx context.Context, accountID, actor, requestID string) error {
	return s.revokeRole(ctx, samplerRole, &models.Sampler{}, accountID, actor, requestID)
}
