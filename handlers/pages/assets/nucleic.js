// How the code page and the verification view word a person's latest
// nucleic-acid result (/h5/assets/nucleic.js): the answers' "nucleic"
// object, {"result":"negative|positive|none","sampled_at","tested_at",
// "hours_since_sampling"}, counted on the server's clock.
(function () {
  "use strict";
  // text is "核酸阴性 · 24小时内" (48, 72 hours), "核酸阴性 · N天前" after
  // that, 核酸阳性 likewise, and 暂无核酸结果 when there is none.
  function text(n) {
    if (!n || (n.result !== "negative" && n.result !== "positive")) return "暂无核酸结果";
    var word = n.result === "negative" ? "核酸阴性" : "核酸阳性";
    var h = n.hours_since_sampling;
    if (typeof h !== "number") return word;
    var when = h < 24 ? "24小时内" : h < 48 ? "48小时内" : h < 72 ? "72小时内" : Math.floor(h / 24) + "天前";
    return word + " · " + when;
  }
  // sampled is the sampling time in zone, "YYYY-MM-DD HH:mm", or "" when
  // there is none.
  function sampled(n, zone) {
    if (!n || !n.sampled_at) return "";
    var f = new Intl.DateTimeFormat("zh-CN", { timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
    var p = {};
    f.formatToParts(new Date(Date.parse(n.sampled_at))).forEach(function (x) { p[x.type] = x.value; });
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute;
  }
  // show writes n into the elements with ids textId and sampledId, hiding
  // the sampled element's row when there is no sampling time.
  function show(n, zone, textId, sampledId) {
    var t = document.getElementById(textId), s = document.getElementById(sampledId);
    t.textContent = text(n);
    t.setAttribute("data-result", n ? n.result : "none");
    var when = sampled(n, zone);
    s.textContent = when;
    s.parentElement.hidden = !when;
  }
  window.hcNucleic = { text: text, sampled: sampled, show: show };
})();
