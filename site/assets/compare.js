// Compare two models with a paired bootstrap over the dialogues they share (same role card).
// The resample count, confidence level, seed and score scale come from the build (LB_DIALOGUES.stats, .scale),
// which takes them from leaderboard/stats.py and the ESC track: the page never disagrees with the board.
(function () {
  function rng(seed) { // mulberry32: small, fast, seeded, so a comparison reads the same every time
    return function () {
      seed |= 0; seed = (seed + 0x6D2B79F5) | 0;
      var t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  function quantile(sorted, q) {
    var pos = (sorted.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
  }
  function paired(diffs, seed, stats) {
    var draw = rng(seed), means = [], ahead = 0, n = diffs.length, tail = (1 - stats.confidence) / 2;
    for (var r = 0; r < stats.resamples; r++) {
      var sum = 0;
      for (var i = 0; i < n; i++) sum += diffs[Math.floor(draw() * n)];
      var m = sum / n;
      means.push(m);
      ahead += m > 0 ? 1 : m === 0 ? 0.5 : 0;
    }
    means.sort(function (a, b) { return a - b; });
    var mean = diffs.reduce(function (s, x) { return s + x; }, 0) / n;
    return { mean: mean, low: quantile(means, tail), high: quantile(means, 1 - tail), ahead: ahead / stats.resamples };
  }
  function text(tag, content, cls) {
    var el = document.createElement(tag);
    el.textContent = content;
    if (cls) el.className = cls;
    return el;
  }
  function init() {
    var form = document.getElementById("lb-compare");
    var data = window.LB_DIALOGUES;
    if (!form || !data) return;
    var out = document.getElementById("lb-compare-result");
    function control(name) { return form.querySelector('[data-control="' + name + '"]'); }
    data.languages.forEach(function (lang) { control("lang").appendChild(new Option(lang, lang)); });
    function fillModels() {
      var lang = control("lang").value, models = Object.keys(data.scores[lang] || {}).sort();
      ["a", "b"].forEach(function (key, k) {
        var select = control(key), previous = select.value;
        select.textContent = "";
        models.forEach(function (m) { select.appendChild(new Option(data.names[m] || m, m)); });
        select.value = models.indexOf(previous) >= 0 ? previous : models[Math.min(k, models.length - 1)] || "";
      });
    }
    function render() {
      var lang = control("lang").value, a = control("a").value, b = control("b").value;
      var sa = (data.scores[lang] || {})[a] || {}, sb = (data.scores[lang] || {})[b] || {};
      var shared = Object.keys(sa).filter(function (k) { return k in sb; }).sort();
      out.textContent = "";
      if (!shared.length) { out.appendChild(text("p", "These two models share no dialogue (role card) in this language.")); return; }
      out.appendChild(text("p", shared.length + " shared dialogues. Scores on 0–100; difference = A − B."));
      var table = document.createElement("table");
      table.className = "lb-table";
      var head = table.createTHead().insertRow();
      ["Dimension", "A", "B", "A − B", "95% CI", "P(A ahead)", "Verdict"].forEach(function (h) { head.appendChild(text("th", h)); });
      var body = table.createTBody();
      data.dimensions.forEach(function (dim, d) {
        var diffs = shared.map(function (k) { return data.scale * (sa[k][d] - sb[k][d]); });
        var meanA = data.scale * shared.reduce(function (s, k) { return s + sa[k][d]; }, 0) / shared.length;
        var meanB = data.scale * shared.reduce(function (s, k) { return s + sb[k][d]; }, 0) / shared.length;
        var r = paired(diffs, data.stats.seed + d, data.stats);
        var verdict = r.low > 0 ? "A better" : r.high < 0 ? "B better" : "not separated";
        var row = body.insertRow();
        [dim, meanA.toFixed(1), meanB.toFixed(1), r.mean.toFixed(1), r.low.toFixed(1) + " – " + r.high.toFixed(1),
         (100 * r.ahead).toFixed(0) + "%", verdict].forEach(function (v) { row.appendChild(text("td", v)); });
      });
      out.appendChild(table);
    }
    control("lang").addEventListener("change", function () { fillModels(); render(); });
    control("a").addEventListener("change", render);
    control("b").addEventListener("change", render);
    fillModels();
    render();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
