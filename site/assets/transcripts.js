// The transcript browser: filter dialogues by topic and score, order them worst or best first.
(function () {
  function init() {
    document.querySelectorAll("form[data-browser]").forEach(function (form) {
      var list = document.getElementById(form.dataset.browser);
      var items = Array.prototype.slice.call(list.querySelectorAll(".lb-dialogue"));
      function control(name) { return form.querySelector('[data-control="' + name + '"]'); }
      function apply() {
        var topic = control("topic").value, dim = control("dim").value, score = control("score").value;
        var order = control("order").value, shown = 0;
        items.sort(function (a, b) {
          if (order === "id") return a.dataset.id.localeCompare(b.dataset.id, undefined, { numeric: true });
          var d = Number(a.dataset[dim]) - Number(b.dataset[dim]);
          return order === "asc" ? d : -d;
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
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
