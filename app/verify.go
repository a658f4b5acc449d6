package main

import (
	"context"
	"encoding/json"
	"strings"

	"healthcode/config"
	"healthcode/handlers"
	"healthcode/models"
	"healthcode/models/codetoken"
	"healthcode/models/store"
)

// verifyCode judges a code as a verifier's scan would, with the same
// checker, and prints the verdict as JSON: `app verify 'HC1JKM:…'`. No scan is
// recorded; the check is audited as an operator action. The exit status is
// 0 whatever the verdict; a verdict that is not valid is not an error.
func verifyCode(ctx context.Context, cfg config.Config, args []string, e env) error {
	if len(args) != 1 {
		return usageError{"usage: app verify 'HC1JKM:…'"}
	}
	qr := strings.TrimSpace(args[0])
	// A quick look-up: held to the server's query timeout, so a database
	// that hangs fails the command in seconds.
	d, err := openForCommand(ctx, cfg, cfg.DB.QueryTimeout.D())
	if err != nil {
		return err
	}
	defer store.CloseDB(d.db)
	keys, err := loadSigningKeys(cfg, d.clock.Now())
	if err != nil {
		return err
	}
	if err := d.signing.Replace(keys); err != nil {
		return err
	}
	if err := d.store.RefreshStatus(ctx, d.status); err != nil {
		return err
	}
	venues := models.NewVenueBook()
	if err := d.store.RefreshVenues(ctx, venues); err != nil {
		return err
	}
	offline := models.NewOfflineBook()
	if err := d.store.RefreshOffline(ctx, offline); err != nil {
		return err
	}
	checker := models.NewChecker(d.store, cfg.Region, d.signing.ForIssuer(cfg.Region),
		codetoken.Rules{Skew: cfg.ClockSkew.D(), Dynamic: cfg.CodeTTL.D()}, d.status, venues, d.clock).WithOffline(offline)
	v, err := checker.Check(ctx, qr)
	if err != nil {
		return err
	}
	if err := d.store.Audit(ctx, models.AuditEntry{Actor: "cli:verify", Action: "code.verify",
		Subject: v.Claims.Subject, Detail: v.Result + " " + v.Reason}); err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(handlers.VerifyAnswer(v, cfg.Location()))
}
