// Compare two models with a paired bootstrap over what they share: dialogues on the same role card (ESC,
// window.LB_DIALOGUES) or the same safety items (window.LB_SAFETY). Each form.lb-compare names its data (data-scores)
// and where its table goes (data-result). The resample count, confidence level, seed and the fewest pairs that get an
// interval come from the build (data.stats, from leaderboard/stats.py), the scale from the track: the page never
// disagrees with the board. A model is never compared with itself.
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
    return { low: quantile(means, tail), high: quantile(means, 1 - tail), ahead: ahead / stats.resamples };
  }
  function mean(xs) { return xs.reduce(function (s, x) { return s + x; }, 0) / xs.length; }
  function text(tag, content, cls) {
    var el = document.createElement(tag);
    el.textContent = content;
    if (cls) el.className = cls;
    return el;
  }
  // ESC has one metric (the score x scale, higher is better); safety has ASD (lower is safer) and PAR.
  // scores: language -> model -> unit -> one value per dimension (null: the unit has no score there).
  function metricsOf(data) {
    return data.metrics || [{ label: "", lower_is_better: false, scale: data.scale, scores: data.scores }];
  }
  function setup(form) {
    var data = window[form.dataset.scores], out = document.getElementById(form.dataset.result);
    if (!data || !out) return;
    var metrics = metricsOf(data), minPairs = data.stats.min_pairs || 1;
    function control(name) { return form.querySelector('[data-control="' + name + '"]'); }
    data.languages.forEach(function (lang) { control("lang").appendChild(new Option(lang, lang)); });
    function models() { return Object.keys(metrics[0].scores[control("lang").value] || {}).sort(); }
    function fillModels() {
      var list = models();
      ["a", "b"].forEach(function (key, k) {
        var select = control(key), previous = select.value;
        select.textContent = "";
        list.forEach(function (m) { select.appendChild(new Option(data.names[m] || m, m)); });
        select.value = list.indexOf(previous) >= 0 ? previous : list[Math.min(k, list.length - 1)] || "";
      });
    }
    function keepApart() { // B moves off A's model, and cannot be set to it
      var a = control("a"), b = control("b");
      if (b.value === a.value) b.value = models().filter(function (m) { return m !== a.value; })[0] || "";
      Array.prototype.forEach.call(b.options, function (o) { o.disabled = o.value === a.value; });
    }
    function render() {
      var lang = control("lang").value, a = control("a").value, b = control("b").value;
      out.textContent = "";
      if (!a || !b || a === b) { out.appendChild(text("p", "Only one model has scores in this language: nothing to compare.")); return; }
      var several = metrics.length > 1, table = document.createElement("table");
      table.className = "lb-table";
      var head = table.createTHead().insertRow(), body = table.createTBody();
      ["Dimension"].concat(several ? ["Metric"] : [], ["A", "B", "A − B", "95% CI", "P(A better)", "Verdict", "n"])
        .forEach(function (h) { head.appendChild(text("th", h)); });
      data.dimensions.forEach(function (dim, d) {
        metrics.forEach(function (metric, k) {
          var sa = (metric.scores[lang] || {})[a] || {}, sb = (metric.scores[lang] || {})[b] || {};
          var shared = Object.keys(sa).filter(function (u) { return u in sb && sa[u][d] != null && sb[u][d] != null; }).sort();
          if (!shared.length) return;
          var va = shared.map(function (u) { return metric.scale * sa[u][d]; });
          var vb = shared.map(function (u) { return metric.scale * sb[u][d]; });
          var diffs = va.map(function (x, i) { return x - vb[i]; });
          var ci = "n too small", ahead = "–", verdict = "n too small";
          if (shared.length >= minPairs) {
            var r = paired(diffs, data.stats.seed + d * metrics.length + k, data.stats), lower = metric.lower_is_better;
            ci = r.low.toFixed(1) + " – " + r.high.toFixed(1);
            ahead = (100 * (lower ? 1 - r.ahead : r.ahead)).toFixed(0) + "%";
            verdict = (lower ? r.high < 0 : r.low > 0) ? "A better" : (lower ? r.low > 0 : r.high < 0) ? "B better" : "not separated";
          }
          var row = body.insertRow();
          [dim].concat(several ? [metric.label] : [], [mean(va).toFixed(1), mean(vb).toFixed(1), mean(diffs).toFixed(1), ci,
            ahead, verdict, String(shared.length)]).forEach(function (v) { row.appendChild(text("td", v)); });
        });
      });
      if (!body.rows.length) { out.appendChild(text("p", "These two models share nothing scored in this language.")); return; }
      out.appendChild(text("p", "Scores on 0–100; A − B is paired over the n dialogues (same role card) or items both " +
                                "models have a score for; below " + minPairs + " there is no interval and no verdict."));
      out.appendChild(table);
    }
    control("lang").addEventListener("change", function () { fillModels(); keepApart(); render(); });
    control("a").addEventListener("change", function () { keepApart(); render(); });
    control("b").addEventListener("change", render);
    fillModels();
    keepApart();
    render();
  }
  function init() { document.querySelectorAll("form.lb-compare[data-scores]").forEach(setup); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
