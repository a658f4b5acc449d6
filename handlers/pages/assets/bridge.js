// The mini-program bridge shared by every H5 page (/h5/assets/bridge.js).
//
// 返回 goes back through the mini-program container, when the page runs in
// one and its bridge is there: WeChat's web-view sets __wxjs_environment to
// "miniprogram" and wx.miniProgram exists once jweixin is loaded; Alipay's
// web-view says AlipayClient and has my once web-view.min.js is loaded.
// Inside a container the bridge script is the container's own: WeChat's
// jweixin from res.wx.qq.com, Alipay's web-view.min.js from its local
// https://appx origin. It is asked for only there (by user agent), so a
// browser never loads a third-party script. Without a bridge, and outside a
// container, every [data-back] button stays hidden and the page works as in
// a browser.
//
// A page marks its 返回 buttons with data-back and calls
// hcBridge.offerBack() after adding one.
(function () {
  "use strict";
  function bridgeBack() {
    var wx = window.wx, my = window.my;
    if ((window.__wxjs_environment === "miniprogram" || /miniProgram/i.test(navigator.userAgent)) && wx && wx.miniProgram && typeof wx.miniProgram.navigateBack === "function") {
      return function () { wx.miniProgram.navigateBack({ delta: 1 }); };
    }
    if (/AlipayClient/i.test(navigator.userAgent) && my && typeof my.navigateBack === "function") {
      return function () { my.navigateBack(); };
    }
    return null;
  }
  function offerBack() {
    var back = bridgeBack();
    document.querySelectorAll("[data-back]").forEach(function (b) { b.hidden = !back; if (back) b.onclick = back; });
  }
  function loadBridge(done) {
    var ua = navigator.userAgent, src = "";
    if (/MicroMessenger/i.test(ua) && /miniProgram/i.test(ua) && !(window.wx && window.wx.miniProgram)) {
      src = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js";
    } else if (/AlipayClient/i.test(ua) && !window.my) {
      src = "https://appx/web-view.min.js";
    }
    if (!src) { done(); return; }
    var s = document.createElement("script");
    s.src = src;
    s.onload = done;
    s.onerror = done;
    document.head.appendChild(s);
  }
  window.hcBridge = { offerBack: offerBack };
  // The buttons are in the document once it is parsed; this script is
  // loaded with defer or at the end of the body.
  function start() { loadBridge(offerBack); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
  document.addEventListener("WeixinJSBridgeReady", offerBack);
})();
