(function () {
  "use strict";

  function valueOf(entry, index) {
    var cell = entry.rows[0].cells[index];
    var value = cell ? cell.getAttribute("data-value") : null;
    return value === null || value === "" ? null : value;
  }

  function sortBy(th) {
    var table = th.closest("table");
    var index = th.cellIndex;
    var numeric = th.getAttribute("data-kind") === "num";
    var current = th.getAttribute("aria-sort");
    var direction = current === "descending" ? "ascending"
      : current === "ascending" ? "descending"
      : th.getAttribute("data-first") || "descending";
    var sign = direction === "ascending" ? 1 : -1;
    var entries = Array.prototype.slice.call(table.tBodies);

    entries.sort(function (a, b) {
      var va = valueOf(a, index);
      var vb = valueOf(b, index);
      var byRank = Number(a.getAttribute("data-rank")) - Number(b.getAttribute("data-rank"));
      if (va === null || vb === null) {
        // missing and failed cells stay at the bottom whichever way the column is sorted
        return va === vb ? byRank : va === null ? 1 : -1;
      }
      var c = numeric ? Number(va) - Number(vb) : va.localeCompare(vb);
      return c === 0 ? byRank : sign * c;
    });
    entries.forEach(function (entry) { table.appendChild(entry); });

    Array.prototype.forEach.call(th.parentNode.cells, function (other) {
      other.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", direction);
  }

  function setOpen(button, open) {
    var row = document.getElementById(button.getAttribute("aria-controls"));
    if (!row) return;
    row.hidden = !open;
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }

  function openFromHash() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (!target) return;
    var entry = target.closest("tbody.entry");
    var button = entry && entry.querySelector("button.toggle");
    if (button) {
      setOpen(button, true);
      target.scrollIntoView();
    }
  }

  document.addEventListener("click", function (event) {
    var sort = event.target.closest("th button.sort");
    if (sort) {
      sortBy(sort.closest("th"));
      return;
    }
    var toggle = event.target.closest("button.toggle");
    if (toggle) {
      setOpen(toggle, toggle.getAttribute("aria-expanded") !== "true");
    }
  });
  window.addEventListener("hashchange", openFromHash);
  openFromHash();
})();
