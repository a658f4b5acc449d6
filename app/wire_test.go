package main

import (
	"testing"
	"time"

	"healthcode/config"
	"healthcode/models/codetoken"
)

// The signing keys are read again only when their files change (or an
// hour has passed), and a rotation on disk is picked up by the next poll.
func TestSigningKeysReloadOnlyWhenChanged(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	k := &signingKeys{cfg: cfg, ring: &codetoken.Keyring{}}
	now := time.Now()
	if err := k.refresh(now); err != nil {
		t.Fatal(err)
	}
	first := k.ring.Active()
	if first == nil {
		t.Fatal("no active key after the first load")
	}
	if err := k.refresh(now.Add(2 * time.Second)); err != nil || k.ring.Active() != first || !k.loadedAt.Equal(now) {
		t.Errorf("an unchanged directory was read again (err %v)", err)
	}
	rotated, err := codetoken.WriteNewKey(cfg.SigningKeyDir(), now.Add(3*time.Second), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.refresh(now.Add(4 * time.Second)); err != nil || k.ring.Active().ID != rotated.ID {
		t.Errorf("after a rotation the active key is %v (err %v), want %s", k.ring.Active(), err, rotated.ID)
	}
	if old := k.ring.Lookup(first.ID); old == nil || old.RetiredAt.IsZero() {
		t.Errorf("the rotated-out key is %+v, want it published and retired", old)
	}
	if err := k.refresh(now.Add(2 * time.Hour)); err != nil || !k.loadedAt.Equal(now.Add(2*time.Hour)) {
		t.Errorf("no reload after an hour (err %v)", err)
	}
}
