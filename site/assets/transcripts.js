// The transcript browser. A transcript page carries its dialogues as data (leaderboard/site/esc.py): an index
// (id, topic, scores), drawn at once as a list of closed dialogues, and per card topic a deflate-compressed
// payload, decoded with DecompressionStream when one of that topic's dialogues is first opened. Every text goes
// in with textContent, so what a model wrote stays text. Then the controls filter by topic and score and order
// the list worst or best first.
(function () {
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function decode(block) {  // base64 -> bytes -> inflate -> JSON; nothing is fetched, so it works from disk
    var binary = atob(block.textContent.trim()), bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream(block.dataset.encoding));
    return new Response(stream).text().then(JSON.parse);
  }

  function summary(entry, dims) {
    var s = el("summary");
    s.appendChild(el("b", null, entry[0]));
    s.appendChild(document.createTextNode(" · " + entry[1] + " ·"));
    dims.forEach(function (dim, k) {
      var v = entry[2][k], scored = Number.isInteger(v);
      var chip = el("span", "lb-chip" + (scored ? " lb-s" + v : ""), dim + " " + (scored ? v : "–"));
      chip.title = dim + (scored ? ": " + v + " of 4" : ": not scored");
      s.appendChild(document.createTextNode(" "));
      s.appendChild(chip);
    });
    return s;
  }

  function fill(details, record) {  // record: [index, card id, card text, source file, line, [[role, text], ...]]
    var card = el("div", "lb-card");
    card.appendChild(el("b", null, "Role card " + (record[1] || "")));
    if (record[2] !== null) card.appendChild(el("div", "lb-text", record[2]));
    else card.appendChild(document.createTextNode(" — not among the role cards the leaderboard knows"));
    details.appendChild(card);
    var source = el("p", "lb-source");
    source.appendChild(el("code", null, record[3]));
    source.appendChild(document.createTextNode(" line " + record[4]));
    details.appendChild(source);
    record[5].forEach(function (m) {
      var model = m[0] === "assistant";
      var turn = el("div", "lb-turn " + (model ? "lb-assistant" : "lb-user"));
      turn.appendChild(el("span", "lb-who", model ? "Model" : "Seeker"));
      turn.appendChild(el("div", "lb-text", m[1]));
      details.appendChild(turn);
    });
  }

  function draw(list) {
    var index = JSON.parse(document.getElementById(list.dataset.lbTranscripts).textContent);
    var blocks = {}, decoded = {};
    document.querySelectorAll('script[data-lb-payload="' + list.dataset.lbTranscripts + '"]').forEach(function (b) {
      blocks[b.dataset.topic] = b;
    });
    function records(topic) {  // one decode per topic, on first need
      if (!decoded[topic]) {
        decoded[topic] = decode(blocks[topic]).then(function (rows) {
          var byIndex = {};
          rows.forEach(function (r) { byIndex[r[0]] = r; });
          return byIndex;
        });
      }
      return decoded[topic];
    }
    index.dialogues.forEach(function (entry, i) {
      var details = el("details", "lb-dialogue");
      details.id = "d-" + i;
      details.dataset.id = entry[0];
      details.dataset.topic = entry[1];
      index.dims.forEach(function (dim, k) { details.dataset[dim] = Number.isInteger(entry[2][k]) ? entry[2][k] : ""; });
      details.appendChild(summary(entry, index.dims));
      details.addEventListener("toggle", function () {
        if (!details.open || details.dataset.filled) return;
        details.dataset.filled = "loading";
        var wait = el("p", "lb-loading", "Decoding the " + entry[1] + " dialogues…");
        details.appendChild(wait);
        records(entry[1]).then(function (byIndex) {
          wait.remove();
          fill(details, byIndex[i]);
          details.dataset.filled = "yes";
        }, function (error) {
          wait.textContent = "These dialogues could not be decoded here (" + error + "); this page needs a browser with "
            + "DecompressionStream (Chrome 80, Firefox 113, Safari 16.4 or later).";
          console.error(error);
        });
      });
      list.appendChild(details);
    });
    var target = location.hash && document.getElementById(location.hash.slice(1));
    if (target && target.parentNode === list) target.open = true;
  }

  function browse(form) {
    var list = document.getElementById(form.dataset.browser);
    var items = Array.prototype.slice.call(list.querySelectorAll(".lb-dialogue"));
    function control(name) { return form.querySelector('[data-control="' + name + '"]'); }
    function apply() {
      var topic = control("topic").value, dim = control("dim").value, score = control("score").value;
      var order = control("order").value, shown = 0;
      function value(item) { return item.dataset[dim] === "" ? -1 : Number(item.dataset[dim]); }  // unscored: below 0
      items.sort(function (a, b) {
        if (order === "id") return a.dataset.id.localeCompare(b.dataset.id, undefined, { numeric: true });
        return order === "asc" ? value(a) - value(b) : value(b) - value(a);
      });
      items.forEach(function (item) {
        var keep = (!topic || item.dataset.topic === topic) && (score === "" || item.dataset[dim] === score);
        item.hidden = !keep;
        if (keep) shown += 1;
        list.appendChild(item);
      });
      control("count").textContent = shown + " of " + items.length + " shown";
    }
    form.addEventListener("change", apply);
    apply();
  }

  function init() {
    document.querySelectorAll("[data-lb-transcripts]").forEach(draw);
    document.querySelectorAll("form[data-browser]").forEach(browse);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
