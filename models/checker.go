package models

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"time"

	"healthcode/models/codetoken"
	"healthcode/models/fault"
)

// KindPolicy decides whether a genuine, unexpired code of one kind still
// stands: a relative code while its link does, an offline code while its
// serial is current, and so on. Each kind of code is a policy, not a branch.
type KindPolicy interface {
	// Revoked returns "" when the code stands, else the reason it no longer
	// does (for example "link_deleted"). Errors are the store's: KindUnavailable
	// when the database cannot be asked.
	Revoked(ctx context.Context, c codetoken.Claims) (reason string, err error)
}

// Stands is the policy of a kind whose genuine, unexpired codes always
// stand (personal codes: the colour is read live anyway).
type Stands struct{}

// Revoked returns "".
func (Stands) Revoked(context.Context, codetoken.Claims) (string, error) { return "", nil }

// IdentifiesOnly is the policy of a kind that proves who a person is but
// says nothing of their health (the 核酸码): its genuine, unexpired codes
// stand for identification, and verify answers them invalid with reason
// "not_a_health_code". A code handed out through a relative link (it names
// the link) stands only while the link does: a holder whose link ended
// must not go on registering samples in the relative's name.
type IdentifiesOnly struct{ Links LinkPolicy }

// Revoked returns "" for a person's own code, else what Links says of the
// code's link.
func (p IdentifiesOnly) Revoked(ctx context.Context, c codetoken.Claims) (string, error) {
	if c.Link == "" {
		return "", nil
	}
	return p.Links.Revoked(ctx, c)
}

// NotHealthCode says why the code is not a health code.
func (IdentifiesOnly) NotHealthCode() string { return ReasonNotHealthCode }

// notHealthCoder is a policy whose kind is not a health code: verify
// answers its codes invalid with the reason it gives.
type notHealthCoder interface{ NotHealthCode() string }

// placeCoder is a policy whose codes name a place (a venue), not a person:
// they carry no person number and no colour, and never identify anyone.
type placeCoder interface{ IdentifiesPlace() bool }

// LinkStatuser answers a relative link's status (Link* constants): the
// store does. An unknown link is an *Error of KindNotFound.
type LinkStatuser interface {
	LinkStatus(ctx context.Context, id string) (string, error)
}

// LinkPolicy lets a relative code stand only while its link is approved:
// deleting the link revokes every code issued for it at once.
type LinkPolicy struct{ Store LinkStatuser }

// Revoked returns "link_<status>" for a link that is not approved.
func (p LinkPolicy) Revoked(ctx context.Context, c codetoken.Claims) (string, error) {
	link, err := p.Store.LinkStatus(ctx, c.Link)
	if err != nil && fault.KindOf(err) != fault.KindNotFound {
		return "", err
	}
	if link == LinkApproved {
		return "", nil
	}
	return "link_" + cmp.Or(link, "unknown"), nil
}

// Verdict is what a check of a code found. Claims are set when the code is
// genuine (signed by a trusted key), whatever the result; Status, the
// holder's current status, only when it is valid.
type Verdict struct {
	Result    string
	Reason    string
	Genuine   bool
	Claims    codetoken.Claims
	Status    Status
	CheckedAt time.Time
}

// Checker is the one place a code is judged: it decodes the code, checks
// the key (issuer, then kid), the lifetime of its kind and the key's
// retirement, the times, then asks the policy of its kind, and reads the
// holder's live colour. Handlers, the CLI and the console all call it.
type Checker struct {
	region   string
	keys     codetoken.KeyLookup
	rules    codetoken.Rules
	policies map[string]KindPolicy
	status   *StatusBook
	clock    Clock
	// venueCodes are the venue codes whose signatures held: every visitor
	// of a venue scans the same poster.
	venueCodes *codetoken.VerifiedCodes
}

// maxVerifiedVenueCodes bounds the venue codes a checker remembers as
// verified (a few hundred bytes each).
const maxVerifiedVenueCodes = 10000

// NewChecker returns the checker of region's codes signed with keys under
// rules, with the policy of every kind of code this service verifies;
// status gives holders' live colours, venues the venue registry.
func NewChecker(store LinkStatuser, region string, keys codetoken.KeyLookup, rules codetoken.Rules, status *StatusBook, venues *VenueBook, clock Clock) *Checker {
	return &Checker{region: region, keys: keys, rules: rules, status: status, clock: clock, venueCodes: codetoken.NewVerifiedCodes(codetoken.KindVenue, maxVerifiedVenueCodes), policies: map[string]KindPolicy{
		codetoken.KindPersonal: Stands{},
		codetoken.KindRelative: LinkPolicy{Store: store},
		codetoken.KindNucleic:  IdentifiesOnly{Links: LinkPolicy{Store: store}},
		codetoken.KindVenue:    VenuePolicy{Venues: venues},
	}}
}

// WithOffline lets the checker judge offline codes by the serials in book
// and returns it.
func (ch *Checker) WithOffline(book *OfflineBook) *Checker {
	if book == nil {
		return ch
	}
	ch.policies[codetoken.KindOffline] = OfflinePolicy{Book: book}
	return ch
}

// Check judges qr at the checker's clock as a health code: a code of a kind
// that only identifies its holder is invalid with ReasonNotHealthCode. A
// code that does not pass is a Verdict saying why, not an error; errors are
// a policy's (the database down: KindUnavailable).
func (ch *Checker) Check(ctx context.Context, qr string) (Verdict, error) {
	v, err := ch.identify(ctx, qr, false)
	if err != nil {
		return v, err
	}
	// A genuine, unexpired code that only identifies is no health code,
	// whether it still identifies or not (its policy is not asked): a
	// verifier learns nothing of its holder's links from it, and the
	// answer needs no database.
	if hc, ok := ch.policies[v.Claims.Kind].(notHealthCoder); ok && v.Genuine && v.Result == ResultValid {
		return Verdict{Result: ResultInvalid, Reason: hc.NotHealthCode(), Genuine: true, Claims: v.Claims, CheckedAt: v.CheckedAt}, nil
	}
	return v, nil
}

// Identify judges qr at the checker's clock as proof of who its holder is
// (a sampling point's question): every kind of a person's code with a
// policy may pass, whether or not it is a health code; a venue code is
// invalid with ReasonVenueCode. Verdicts and errors are Check's.
func (ch *Checker) Identify(ctx context.Context, qr string) (Verdict, error) {
	return ch.identify(ctx, qr, true)
}

// identify is Identify; without askIdentifiers the policy of a kind that
// only identifies is not asked whether the code still stands.
func (ch *Checker) identify(ctx context.Context, qr string, askIdentifiers bool) (Verdict, error) {
	v, err := ch.judge(ctx, qr, codetoken.Parse, askIdentifiers)
	if err != nil || v.Result != ResultValid {
		return v, err
	}
	if ch.isPlace(v.Claims.Kind) {
		return Verdict{Result: ResultInvalid, Reason: ReasonVenueCode, Genuine: true, Claims: v.Claims, CheckedAt: v.CheckedAt}, nil
	}
	return v, nil
}

// CheckVenue judges qr at the checker's clock as a venue's posted code (a
// visitor's scan): a genuine code of another kind is invalid with
// fault.CodeNotVenueCode as its reason. A code seen before is not verified
// again while its key stands (its times and the venue registry are checked
// each time). Verdicts and errors are Check's; a valid verdict has no Status.
func (ch *Checker) CheckVenue(ctx context.Context, qr string) (Verdict, error) {
	v, err := ch.judge(ctx, qr, ch.venueCodes.Parse, true)
	if err == nil && v.Genuine && v.Claims.Kind != codetoken.KindVenue {
		return Verdict{Result: ResultInvalid, Reason: fault.CodeNotVenueCode, Genuine: true, Claims: v.Claims, CheckedAt: v.CheckedAt}, nil
	}
	return v, err
}

func (ch *Checker) isPlace(kind string) bool {
	p, ok := ch.policies[kind].(placeCoder)
	return ok && p.IdentifiesPlace()
}

// judge decodes qr with parse, checks its key, lifetime and times, and asks
// its kind's policy; a person's valid code comes with the holder's live
// status.
func (ch *Checker) judge(ctx context.Context, qr string, parse func(string, codetoken.KeyLookup) (codetoken.Claims, error), askIdentifiers bool) (Verdict, error) {
	now := ch.clock.Now()
	claims, err := parse(qr, ch.keys)
	if err == nil {
		err = claims.Check(now, ch.rules)
	}
	v := Verdict{Result: ResultInvalid, Claims: claims, CheckedAt: now}
	switch {
	case errors.Is(err, codetoken.ErrExpired):
		v.Result, v.Reason, v.Genuine = ResultExpired, ReasonExpired, true
		return v, nil
	case err != nil:
		v.Reason, v.Claims = reasonOf(err), codetoken.Claims{}
		return v, nil
	}
	v.Genuine = true
	// The status book is ours: a code read by number must be ours and carry
	// one (a code without it would read as green whoever holds it). A
	// place's code names no person.
	place := ch.isPlace(claims.Kind)
	if claims.Issuer != ch.region || (claims.PersonNo == 0) != place {
		v.Reason, v.Genuine, v.Claims = ReasonMalformed, false, codetoken.Claims{}
		return v, nil
	}
	policy, ok := ch.policies[claims.Kind]
	if !ok {
		v.Reason = ReasonUnsupportedKind
		return v, nil
	}
	var reason string
	if _, identifies := policy.(notHealthCoder); askIdentifiers || !identifies {
		if reason, err = policy.Revoked(ctx, claims); err != nil {
			return Verdict{}, err
		}
	}
	if reason != "" {
		v.Result, v.Reason = ResultRevoked, reason
		return v, nil
	}
	v.Result = ResultValid
	if !place {
		v.Status = ch.status.Of(claims.PersonNo)
	}
	return v, nil
}

// Record is the scan record of a verdict given to a verifier at a place.
func (v Verdict) Record(verifierID, place string) *Verification {
	rec := &Verification{VerifierAccountID: verifierID, Place: place, CheckedAt: v.CheckedAt.UTC(), Result: v.Result, Reason: v.Reason}
	if v.Genuine {
		// The code is genuine: record whose it was, whatever the result.
		rec.HolderHandle, rec.Kind, rec.CodeID = v.Claims.Subject, v.Claims.Kind, hex.EncodeToString(v.Claims.ID)
	}
	if v.Result == ResultValid {
		rec.Colour = v.Status.Colour
	}
	return rec
}

// reasonOf names why a code is invalid, as verify answers say it.
func reasonOf(err error) string {
	switch {
	case errors.Is(err, codetoken.ErrUnknownKey):
		return ReasonUnknownKey
	case errors.Is(err, codetoken.ErrBadSignature):
		return ReasonBadSignature
	case errors.Is(err, codetoken.ErrWrongIssuer):
		return ReasonWrongIssuer
	case errors.Is(err, codetoken.ErrNotYetValid):
		return ReasonNotYetValid
	case errors.Is(err, codetoken.ErrLifetime):
		return ReasonLifetime
	case errors.Is(err, codetoken.ErrRetiredKey):
		return ReasonRetiredKey
	default:
		return ReasonMalformed
	}
}
