// The trace explorer's only script: opens the record or span a URL fragment
// points at (shared links, "first error", a span's link) and marks it. No
// data reaches the DOM through this file; the server renders every value.
"use strict";
(function () {
  function select() {
    var id = decodeURIComponent(location.hash.slice(1));
    if (!id) return;
    var el = document.getElementById(id);
    if (!el || !(el.classList.contains("rec") || el.classList.contains("span"))) return;
    document.querySelectorAll(".rec.selected, .span.selected").forEach(function (e) { e.classList.remove("selected"); });
    el.classList.add("selected");
    var d = el.querySelector("details");
    if (d) d.open = true;
    el.scrollIntoView({ block: "center" });
  }
  window.addEventListener("hashchange", select);
  document.addEventListener("DOMContentLoaded", select);
})();
