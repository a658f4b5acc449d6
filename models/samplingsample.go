package models

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// How a person was identified at the sampling point: the kind of code
// scanned, or by hand.
const (
	IdentifiedByHand = "manual"
)

// Sample is one registration: a person put in a tube at a site by a
// sampler, how they were identified, and when. Its id is the client's, so a
// resend is recognised.
type Sample struct {
	SampleID string `gorm:"primaryKey;size:64"`
	Tube     string
	// Position is the tube's count once this sample was in it.
	Position         int
	PersonID         string
	PersonNo         uint32
	MaskedName       string
	MaskedDoc        string
	Site             string
	SamplerAccountID string
	Method           string
	// Resampled flags a person sampled at another open tube within the
	// hour before (allowed: re-sampling happens).
	Resampled bool
	SampledAt time.Time
}

// TableName names the table.
func (Sample) TableName() string { return "samples" }

var (
	sampleIDFormat = regexp.MustCompile(`^[0-9A-Za-z-]{8,64}$`)
	errBadSampleID = Errorf(KindInvalid, "invalid_sample_id", "采样记录编号应为8至64位字母、数字或“-”")
	// errSampleIDTaken is a sample id another site used: ids are the
	// devices' random UUIDs, so this is a fault, not a resend.
	errSampleIDTaken = Errorf(KindConflict, "sample_id_taken", "采样记录编号已被使用，请重新登记")
)

// CheckSampleID validates a client's sample id. Errors: KindInvalid.
func CheckSampleID(id string) error {
	if !sampleIDFormat.MatchString(id) {
		return errBadSampleID
	}
	return nil
}

// SampleRegistration is one registration handed to the group-commit writer
// of samples: the sample asked for and, once its batch committed, what came
// of it. Read Sample, Replayed and Err only after Submit returned nil.
type SampleRegistration struct {
	Sample Sample
	// Replayed is set when the sample id was registered before: Sample is
	// then the record as it was first made, and nothing changed.
	Replayed bool
	// Err is the refusal of this one sample (KindNotFound, KindConflict
	// with CodeTubeFull, CodeTubeSealed, CodeAlreadyInTube, or sample_id_taken
	// for another site's sample id).
	Err error
}

// resampleWindow is how far back a sample at another open tube flags a
// person as re-sampled.
const resampleWindow = time.Hour

// RecordSamples registers a batch of samples in one transaction (group
// commit): it locks the tubes concerned (in order, so concurrent batches
// never deadlock), recognises sample ids seen before, refuses per sample a
// missing, sealed or full tube and a person already in it, and writes the
// rest with the tubes' new counts. Per-sample refusals are in each
// registration's Err; the error returned is the batch's (the database's).
func (s *Store) RecordSamples(ctx context.Context, regs []*SampleRegistration) error {
	if len(regs) == 0 {
		return nil
	}
	// A retry after a failed commit starts clean.
	for _, r := range regs {
		r.Replayed, r.Err = false, nil
	}
	var tubeIDs, sampleIDs, personIDs []string
	for _, r := range regs {
		tubeIDs, sampleIDs, personIDs = append(tubeIDs, r.Sample.Tube), append(sampleIDs, r.Sample.SampleID), append(personIDs, r.Sample.PersonID)
	}
	slices.Sort(tubeIDs)
	tubeIDs = slices.Compact(tubeIDs)
	// Read committed: after waiting for a tube's lock, see what the batch
	// that held it wrote.
	return s.db.WithContext(ctx).Transaction(func(tx *gormDB) error {
		var tubes []Tube
		if err := tx.Clauses(lockForUpdate).Where("tube IN ?", tubeIDs).Order("tube").Find(&tubes).Error; err != nil {
			return fmt.Errorf("lock tubes: %w", err)
		}
		byTube := make(map[string]*Tube, len(tubes))
		for i := range tubes {
			byTube[tubes[i].Tube] = &tubes[i]
		}
		var seen []Sample
		if err := tx.Where("sample_id IN ?", sampleIDs).Find(&seen).Error; err != nil {
			return fmt.Errorf("read samples: %w", err)
		}
		byID := make(map[string]Sample, len(seen))
		for _, sm := range seen {
			byID[sm.SampleID] = sm
		}
		var inTubes []Sample
		if err := tx.Select("tube, person_id").Where("tube IN ?", tubeIDs).Find(&inTubes).Error; err != nil {
			return fmt.Errorf("read tubes' samples: %w", err)
		}
		held := make(map[[2]string]bool, len(inTubes))
		for _, sm := range inTubes {
			held[[2]string{sm.Tube, sm.PersonID}] = true
		}
		// Each person's least and greatest open tube sampled within the
		// window: a person was sampled at a tube other than t exactly when
		// either differs from t. One row a person, however often they were
		// sampled.
		var spans []struct{ PersonID, Lo, Hi string }
		since := regs[0].Sample.SampledAt.Add(-resampleWindow)
		err := tx.Table("samples").Select("samples.person_id AS person_id, MIN(samples.tube) AS lo, MAX(samples.tube) AS hi").
			Joins("JOIN sampling_tubes ON sampling_tubes.tube = samples.tube").
			Where("samples.person_id IN ? AND samples.sampled_at >= ? AND sampling_tubes.state = ?", personIDs, since, TubeOpen).
			Group("samples.person_id").Scan(&spans).Error
		if err != nil {
			return fmt.Errorf("read recent samples: %w", err)
		}
		recent := make(map[string][2]string, len(spans))
		for _, sp := range spans {
			recent[sp.PersonID] = [2]string{sp.Lo, sp.Hi}
		}
		var fresh []Sample
		changed := map[string]bool{}
		for _, r := range regs {
			sm := &r.Sample
			if old, ok := byID[sm.SampleID]; ok {
				if old.Site != sm.Site {
					// Another site's id: never answer its record.
					r.Err = errSampleIDTaken
					continue
				}
				r.Sample, r.Replayed = old, true
				continue
			}
			t := byTube[sm.Tube]
			switch {
			case t == nil || t.Site != sm.Site:
				r.Err = errTubeMissing
			case t.State != TubeOpen:
				r.Err = errTubeSealed
			case held[[2]string{t.Tube, sm.PersonID}]:
				r.Err = errInTube
			case t.Count >= t.Mode:
				r.Err = errTubeFull
			}
			if r.Err != nil {
				continue
			}
			span, ok := recent[sm.PersonID]
			if ok && (span[0] != sm.Tube || span[1] != sm.Tube) {
				sm.Resampled = true
			}
			if !ok {
				span = [2]string{sm.Tube, sm.Tube}
			}
			recent[sm.PersonID] = [2]string{min(span[0], sm.Tube), max(span[1], sm.Tube)}
			t.Count++
			sm.Position = t.Count
			held[[2]string{t.Tube, sm.PersonID}] = true
			byID[sm.SampleID] = *sm
			changed[t.Tube] = true
			fresh = append(fresh, *sm)
		}
		if len(fresh) == 0 {
			return nil
		}
		if err := tx.CreateInBatches(fresh, 200).Error; err != nil {
			return fmt.Errorf("record %d samples: %w", len(fresh), err)
		}
		for _, id := range tubeIDs {
			if changed[id] {
				if err := tx.Model(&Tube{}).Where("tube = ?", id).Update("count", byTube[id].Count).Error; err != nil {
					return fmt.Errorf("count tube: %w", err)
				}
			}
		}
		return nil
	}, s.readCommitted()...)
}

// SampleByID returns a registration by its sample id, or an *Error of
// KindNotFound.
func (s *Store) SampleByID(ctx context.Context, id string) (*Sample, error) {
	var sm Sample
	if err := s.db.WithContext(ctx).Take(&sm, "sample_id = ?", id).Error; err != nil {
		return nil, notFound(err, "sample_not_found", "未找到该采样记录")
	}
	return &sm, nil
}
