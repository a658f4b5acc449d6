// pagekit: what the code page and the check-in page share.
(function () {
  "use strict";
  window.pagekit = {
    // elderSwitch wires the button with id "elder": the switch names the
    // mode a tap turns on, in either mode and after a reload (the choice is
    // remembered on the device).
    elderSwitch: function () {
      var button = document.getElementById("elder");
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
    }
  };
})();
