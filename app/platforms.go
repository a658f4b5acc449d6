package main

import (
	"fmt"
	"os"

	"healthcode/config"
	"healthcode/miniprogram"
	"healthcode/models"
)

// buildPlatforms builds each configured mini-program platform once, with
// its SDK client and token cache, every call bounded by the platform
// timeout.
func buildPlatforms(cfg config.Config, clock models.Clock) (map[string]miniprogram.Platform, error) {
	platforms := map[string]miniprogram.Platform{}
	if cfg.WeChat.AppID != "" {
		platforms[models.PlatformWeChat] = miniprogram.NewWeChat(miniprogram.WeChatOptions{
			AppID: cfg.WeChat.AppID, AppSecret: cfg.WeChat.AppSecret, Timeout: cfg.PlatformTimeout.D(), Clock: clock,
		})
	}
	if cfg.Alipay.AppID != "" {
		private, err := os.ReadFile(cfg.Alipay.PrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("alipay private key: %w", err)
		}
		public, err := os.ReadFile(cfg.Alipay.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("alipay public key: %w", err)
		}
		a, err := miniprogram.NewAlipay(miniprogram.AlipayOptions{
			AppID: cfg.Alipay.AppID, PrivateKey: string(private), AlipayPublicKey: string(public),
			EncryptKey: cfg.Alipay.EncryptKey, ReturnURL: cfg.Alipay.ReturnURL,
			Timeout: cfg.PlatformTimeout.D(), Clock: clock,
		})
		if err != nil {
			return nil, err
		}
		platforms[models.PlatformAlipay] = a
	}
	if cfg.SandboxEnabled() {
		platforms[models.PlatformSandbox] = miniprogram.NewSandbox(clock)
	}
	return platforms, nil
}
