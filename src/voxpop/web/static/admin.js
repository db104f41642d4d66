/* voxpop admin: keyboard shortcuts for the moderation queue. Every action is a plain
   form; this only moves the focus and presses the focused comment's buttons. */
(function () {
  "use strict";
  var items = Array.prototype.slice.call(document.querySelectorAll(".q-item"));
  var current = -1;
  function select(i) {
    if (!items.length) return;
    current = Math.max(0, Math.min(items.length - 1, i));
    items.forEach(function (el, k) { el.classList.toggle("q-current", k === current); });
    items[current].focus();
    items[current].scrollIntoView({ block: "nearest" });
  }
  items.forEach(function (el, k) {
    el.addEventListener("focusin", function () {
      current = k;
      items.forEach(function (o, j) { o.classList.toggle("q-current", j === k); });
    });
  });
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var tag = (e.target && e.target.tagName) || "";
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(tag)) {
      if (e.key === "Escape") e.target.blur();
      return;
    }
    if (e.key === "/") {
      var q = document.getElementById("q");
      if (q) { e.preventDefault(); q.focus(); }
      return;
    }
    if (e.key === "j" || e.key === "ArrowDown") { e.preventDefault(); select(current + 1); return; }
    if (e.key === "k" || e.key === "ArrowUp") { e.preventDefault(); select(current - 1); return; }
    if (current < 0 || !items[current]) return;
    // Only on the selected comment (or when nothing else has the focus).
    var active = document.activeElement;
    if (active && active !== document.body && !items[current].contains(active)) return;
    var control = items[current].querySelector('[data-key="' + e.key + '"]');
    if (!control) return;
    e.preventDefault();
    if (control.tagName !== "BUTTON") { control.focus(); return; } // ban: choose how long first
    if (control.form && control.form.requestSubmit) control.form.requestSubmit(control);
    else control.click();
  });
  var keys = document.getElementById("keys");
  if (keys) keys.hidden = false;
  if (items.length) select(0);
})();
