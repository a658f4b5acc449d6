// What the H5 pages share (/h5/assets/pagekit.js): elder mode and the
// clock for the code and check-in pages, and for the code and 核酸码 pages
// the fetch of their data with its retry pacing and the message that
// replaces a card.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  window.pagekit = {
    // elderSwitch wires the button with id "elder": the switch names the
    // mode a tap turns on, in either mode and after a reload (the choice is
    // remembered on the device).
    elderSwitch: function () {
      var button = $("elder");
      function elder(on) {
        document.body.classList.toggle("elder", on);
        button.textContent = on ? "标准模式" : "长辈模式（大字）";
        button.setAttribute("aria-pressed", on ? "true" : "false");
      }
      elder(localStorage.getItem("hc_elder") === "1");
      button.onclick = function () {
        var on = !document.body.classList.contains("elder");
        localStorage.setItem("hc_elder", on ? "1" : "0");
        elder(on);
      };
    },
    // parts returns the date and time of ms in zone, by field.
    parts: function (ms, zone) {
      var f = new Intl.DateTimeFormat("zh-CN", { timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
      var out = {};
      f.formatToParts(new Date(ms)).forEach(function (p) { out[p.type] = p.value; });
      return out;
    },
    // backoff paces retries: 2 s, doubling to 30 s, never sooner than the
    // server's Retry-After; reset after an answer that worked.
    backoff: function () {
      var wait = 2000;
      return {
        next: function (atLeast) {
          var ms = Math.max(wait, atLeast || 0);
          wait = Math.min(ms * 2, 30000);
          return ms;
        },
        reset: function () { wait = 2000; }
      };
    },
    // getJSON asks this origin for url with the page session's cookie and
    // sorts the answer for the page: on.ok(data) for a 2xx; on.retry(text,
    // atLeastMs) when the network failed, the server was busy (503, 429,
    // with its Retry-After) or broke (5xx); on.ended() for a 401 (the page
    // session is gone); on.refused(message) for any other refusal, with
    // the server's message ("" when it gave none).
    getJSON: async function (url, on) {
      var res;
      try {
        res = await fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } });
      } catch (e) {
        on.retry("网络不可用，正在重试…", 0);
        return;
      }
      if (res.status === 503 || res.status === 429) {
        on.retry("系统繁忙，请稍后，正在自动重试…", parseInt(res.headers.get("Retry-After") || "0", 10) * 1000);
        return;
      }
      var data = await res.json().catch(function () { return {}; });
      if (res.status === 401) { on.ended(); return; }
      if (!res.ok) {
        if (res.status >= 500) on.retry("出错了，正在重试…", 0);
        else on.refused(data.error ? data.error.message : "");
        return;
      }
      on.ok(data);
    },
    // message replaces the card (id "card", its QR "qr") with text in the
    // element "state", so nothing on screen looks like a code; withBack
    // adds a 返回 button, offered through the mini-program bridge
    // (/h5/assets/bridge.js) when there is one.
    message: function (text, withBack) {
      $("card").hidden = true;
      $("qr").innerHTML = "";
      $("qr").removeAttribute("data-qr");
      $("state").textContent = text;
      if (withBack) {
        var b = document.createElement("button");
        b.type = "button"; b.textContent = "返回"; b.setAttribute("data-back", "");
        $("state").appendChild(b);
        if (window.hcBridge) window.hcBridge.offerBack();
      }
      $("state").hidden = false;
    }
  };
})();
