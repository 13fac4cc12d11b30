// Aftercare console: its one script of its own (no inline scripts; CSP script-src 'self').
(function () {
  // On a phone a data table becomes stacked cards (console.css): each cell shows its column's
  // header as a label, so no column is hidden off the screen.
  function labelTables(root) {
    root.querySelectorAll("table.data").forEach(function (table) {
      var heads = Array.prototype.map.call(
        table.querySelectorAll("thead th"),
        function (th) { return th.textContent.trim(); }
      );
      table.querySelectorAll("tbody tr").forEach(function (row) {
        Array.prototype.forEach.call(row.children, function (cell, i) {
          if (cell.tagName === "TD" && heads[i] && !cell.hasAttribute("colspan") && !cell.dataset.label) {
            cell.dataset.label = heads[i];
          }
        });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    labelTables(document);
    // A form that failed comes back with an error summary: move focus to it, so the page
    // opens where the eye must go (the GOV.UK error-summary pattern).
    var summary = document.querySelector("[data-error-summary]");
    if (summary) {
      // at once, not smoothly: the page opens where the problem is
      summary.focus({ preventScroll: true });
      summary.scrollIntoView({ block: "start", behavior: "instant" });
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) { labelTables(event.target); });
})();
