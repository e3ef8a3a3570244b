// Sortable and filterable tables: click a header of a .sortable table; type in an .lb-filter box.
// A header's first click sorts best first: descending where it says data-sort-first="descending" (a score where
// higher is better), ascending otherwise (ranks, ASD where lower is safer); each further click reverses the order.
(function () {
  function value(cell) {
    var raw = cell.getAttribute("data-sort");
    if (raw === null) raw = cell.textContent.trim();
    var num = Number(raw);
    return raw !== "" && !isNaN(num) ? num : raw.toLowerCase();
  }
  function sortBy(table, index, header) {
    var current = header.getAttribute("aria-sort");
    var descending = current ? current === "ascending" : header.dataset.sortFirst === "descending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a.cells[index]), y = value(b.cells[index]);
      var order = x < y ? -1 : x > y ? 1 : 0;
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  function init() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      if (!table.tHead || table.dataset.sortReady) return;
      table.dataset.sortReady = "1";
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
        th.addEventListener("click", function (event) {
          if (event.target.closest("a")) return;
          sortBy(table, index, th);
        });
      });
    });
    document.querySelectorAll("input.lb-filter").forEach(function (box) {
      var table = document.getElementById(box.dataset.table);
      if (!table) return;
      box.addEventListener("input", function () {
        var needle = box.value.trim().toLowerCase();
        Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
          row.hidden = needle !== "" && row.textContent.toLowerCase().indexOf(needle) < 0;
        });
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
