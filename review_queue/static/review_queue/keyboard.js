// Keyboard shortcuts of the review queue. On the list: j/k select a row, Enter or e opens it.
// On an item: r goes to the retry button, e to the correction's first field, a to the assignee.
// ? opens the help on both. Served as a static file: the CSP forbids inline scripts.
(function () {
  "use strict";

  function isTyping(target) {
    if (!(target instanceof Element)) return false;
    return target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  function openHelp() {
    const dialog = document.getElementById("keyboard-help");
    if (dialog && !dialog.open) dialog.showModal();
  }

  function rows() {
    return Array.from(document.querySelectorAll("[data-keyboard-list] tbody tr[data-item-url]"));
  }

  function selectedIndex(list) {
    return list.findIndex((row) => row.classList.contains("keyboard-selected"));
  }

  function select(list, index) {
    list.forEach((row, i) => {
      const selected = i === index;
      row.classList.toggle("keyboard-selected", selected);
      row.setAttribute("aria-selected", selected ? "true" : "false");
    });
    scrollIntoSight(list[index]);
  }

  // Vertically only: a row can be wider than the window, and scrollIntoView would scroll it
  // sideways too.
  function scrollIntoSight(row) {
    const box = row.getBoundingClientRect();
    if (box.top < 0) window.scrollBy(0, box.top - 8);
    else if (box.bottom > window.innerHeight) window.scrollBy(0, box.bottom - window.innerHeight + 8);
  }

  function move(step) {
    const list = rows();
    if (!list.length) return;
    const current = selectedIndex(list);
    const next = current < 0 ? 0 : Math.min(Math.max(current + step, 0), list.length - 1);
    select(list, next);
  }

  function openSelected() {
    const list = rows();
    const current = selectedIndex(list);
    if (current < 0) return false;
    window.location.assign(list[current].dataset.itemUrl);
    return true;
  }

  function focusForm(key) {
    const form = document.querySelector(`form[data-keyboard-key="${key}"]`);
    if (!form) return false;
    const target =
      key === "r"
        ? form.querySelector("button[type=submit], button:not([type])")
        : form.querySelector("input:not([type=hidden]):not([disabled]), select, textarea");
    if (!target) return false;
    target.scrollIntoView({ block: "center" });
    target.focus();
    return true;
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    // Just after the help closes, Chrome may still report its Close button as the target.
    const target = event.target.closest?.("dialog:not([open])") ? document.body : event.target;
    if (isTyping(target)) return;
    const help = document.getElementById("keyboard-help");
    if (help && help.open) return; // the dialog has the keyboard; Esc closes it
    const onList = document.querySelector("[data-keyboard-list]") !== null;
    let handled = false;
    if (event.key === "?") {
      openHelp();
      handled = true;
    } else if (onList && event.key === "j") {
      move(1);
      handled = true;
    } else if (onList && event.key === "k") {
      move(-1);
      handled = true;
    } else if (onList && (event.key === "e" || event.key === "Enter")) {
      // Enter on a focused link or button keeps its own meaning.
      if (event.key === "Enter" && target.closest?.("a, button")) return;
      handled = openSelected();
    } else if (!onList && ["r", "e", "a"].includes(event.key)) {
      handled = focusForm(event.key);
    }
    if (handled) event.preventDefault();
  });

  document.addEventListener("click", (event) => {
    if (event.target instanceof Element && event.target.closest("[data-keyboard-help-open]")) {
      openHelp();
    }
  });
})();
