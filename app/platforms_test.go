package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"

	"healthcode/config"
	"healthcode/miniprogram/platformtest"
	"healthcode/models"
)

func TestBuildPlatformsFromConfiguration(t *testing.T) {
	fake := platformtest.NewAlipay(t)
	dir := t.TempDir()
	private, public := filepath.Join(dir, "app.pem"), filepath.Join(dir, "alipay.pem")
	os.WriteFile(private, []byte(fake.AppPrivateKey), 0o600)
	os.WriteFile(public, []byte(fake.AlipayPublicKey), 0o600)

	cfg := config.Default()
	cfg.Mode, cfg.Sandbox = config.ModeProduction, "auto"
	cfg.WeChat = config.WeChat{AppID: "wx1", AppSecret: "secret"}
	cfg.Alipay = config.Alipay{AppID: fake.AppID, PrivateKeyFile: private, PublicKeyFile: public}
	cfg.PlatformTimeout = config.Duration(2 * time.Second)
	saved := util.DefaultHTTPClient
	t.Cleanup(func() { util.DefaultHTTPClient = saved })
	got, err := buildPlatforms(cfg, models.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	// The WeChat SDK sends through its package-level client: the platform
	// timeout reaches it.
	if d := util.DefaultHTTPClient.Timeout; d != 2*time.Second {
		t.Errorf("the WeChat SDK's HTTP client has timeout %v, want the configured 2s", d)
	}
	var names []string
	for name := range got {
		names = append(names, name)
	}
	slices.Sort(names)
	if strings.Join(names, ",") != "alipay,wechat" {
		t.Errorf("production platforms = %v, want alipay and wechat without the sandbox", names)
	}

	// A missing or malformed key file stops the start.
	cfg.Alipay.PublicKeyFile = filepath.Join(dir, "missing.pem")
	if _, err := buildPlatforms(cfg, models.SystemClock{}); err == nil {
		t.Error("a missing Alipay public key was accepted")
	}
	os.WriteFile(filepath.Join(dir, "bad.pem"), []byte("not a key"), 0o600)
	cfg.Alipay.PublicKeyFile = filepath.Join(dir, "bad.pem")
	if _, err := buildPlatforms(cfg, models.SystemClock{}); err == nil {
		t.Error("a malformed Alipay public key was accepted")
	}

	dev := config.Default()
	dev.DataDir = t.TempDir()
	got, _ = buildPlatforms(dev, models.SystemClock{})
	if _, ok := got[models.PlatformSandbox]; !ok || len(got) != 1 {
		t.Errorf("development without credentials = %v, want the sandbox alone", got)
	}
}
