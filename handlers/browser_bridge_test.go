package handlers

import (
	"context"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
)

// Inside a mini-program's web-view the page asks for the container's own
// bridge script (WeChat's jweixin, Alipay's web-view.min.js) and offers 返回
// through it once it has loaded; a browser asks for neither. The
// containers' scripts are served here by the test, as the containers
// themselves serve them.
func TestPagesLoadTheContainersBridge(t *testing.T) {
	e, srv, _ := codePageEnv(t, 0)
	token, _ := e.verifiedUser(t, "alice", aliceName, aliceNumber)
	bridges := map[string]string{
		"https://res.wx.qq.com/open/js/jweixin-1.6.0.js": `window.wx = { miniProgram: { navigateBack: function () { window.__back = "wechat"; } } };`,
		"https://appx/web-view.min.js":                   `window.my = { navigateBack: function () { window.__back = "alipay"; } };`,
	}
	for _, c := range []struct{ name, userAgent, want string }{
		{"wechat", "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/116 Mobile Safari/537.36 MicroMessenger/8.0.47 miniProgram/wx1234", "wechat"},
		{"alipay", "Mozilla/5.0 (Linux; Android 13) AlipayClient/10.5.0 MiniProgram", "alipay"},
		{"browser", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := newBrowser(t)
			var mu sync.Mutex
			var asked []string
			paused := make(chan *fetch.EventRequestPaused, 8)
			if err := chromedp.Listen(ctx, func(ev any) {
				if p, ok := ev.(*fetch.EventRequestPaused); ok {
					paused <- p
				}
			}); err != nil {
				t.Fatal(err)
			}
			serveCtx, stop := context.WithCancel(ctx)
			defer stop()
			go func() {
				for {
					select {
					case <-serveCtx.Done():
						return
					case p := <-paused:
						mu.Lock()
						asked = append(asked, p.Request.URL)
						mu.Unlock()
						chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: p.RequestID, ResponseCode: 200,
							ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/javascript"}},
							Body:            []byte(bridges[p.Request.URL])})
					}
				}
			}()
			if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
				{URLPattern: "https://res.wx.qq.com/*"}, {URLPattern: "https://appx/*"}}}); err != nil {
				t.Fatal(err)
			}
			if c.userAgent != "" {
				if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: c.userAgent}); err != nil {
					t.Fatal(err)
				}
			}
			url := srv.URL + decode[ticketResponse](t, e.json("POST", "/api/v1/h5/tickets", token, nil), 201).URL
			open(t, ctx, phone(375, 812), url, "code", codeShown)
			if c.want != "" {
				waitFor(t, ctx, "返回 through the bridge", `!document.querySelector("#back").hidden`)
				if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("back"))); err != nil {
					t.Fatal(err)
				}
				if got := evalJS[string](t, ctx, `String(window.__back)`); got != c.want {
					t.Errorf("返回 went through %q, want %q", got, c.want)
				}
			} else if shown := evalJS[bool](t, ctx, `!document.querySelector("#back").hidden`); shown {
				t.Error("a browser page offers 返回")
			}
			mu.Lock()
			defer mu.Unlock()
			if (len(asked) > 0) != (c.want != "") {
				t.Errorf("bridge scripts asked for: %v", asked)
			}
		})
	}
}
