// The buyer queue: keyboard shortcuts, row selection, and the messages and dialog of its htmx actions.
// Everything here is an enhancement: without JavaScript the forms post and the links navigate.
(function () {
  "use strict";
  const table = document.getElementById("queue-table");
  if (!table) return;
  let current = null; // the reference of the highlighted row: rows are swapped, references stay

  function rows() {
    return Array.from(table.querySelectorAll("tbody tr.queue-row"));
  }
  function highlighted() {
    return current ? document.getElementById("row-" + current) : null;
  }
  function highlight(row) {
    rows().forEach(function (each) {
      each.classList.remove("table-active");
      each.removeAttribute("aria-selected");
    });
    if (!row) return;
    row.classList.add("table-active");
    row.setAttribute("aria-selected", "true");
    current = row.dataset.reference;
    row.scrollIntoView({block: "nearest", inline: "nearest"});
  }
  function typing(target) {
    return target.isContentEditable || target.closest("input, textarea, select") !== null;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur(); // back to the shortcuts
      return;
    }
    if (document.querySelector(".modal.show")) return;
    if (event.key === "Enter" && event.target.closest("a, button")) return; // the focused control's own Enter
    const list = rows();
    const row = highlighted();
    const index = row ? list.indexOf(row) : -1;
    switch (event.key) {
      case "j":
        highlight(list[Math.min(index + 1, list.length - 1)]);
        break;
      case "k":
        highlight(list[Math.max(index - 1, 0)]);
        break;
      case "Enter":
        if (!row) return;
        window.location.assign(row.dataset.href);
        break;
      case "c": {
        const claim = row && row.querySelector(".claim-button");
        if (!claim) return;
        claim.click();
        break;
      }
      case "x": {
        const box = row && row.querySelector(".row-check");
        if (!box) return;
        box.checked = !box.checked;
        box.dispatchEvent(new Event("change", {bubbles: true}));
        break;
      }
      case "/":
        document.getElementById("queue-search").focus();
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  table.addEventListener("click", function (event) {
    const row = event.target.closest("tr.queue-row");
    if (row) highlight(row);
  });

  // Selection for bulk actions.
  const selectAll = document.getElementById("select-all");
  const selectedCount = document.getElementById("selected-count");
  function countSelected() {
    if (!selectedCount) return; // an empty page has no bulk form
    const count = table.querySelectorAll(".row-check:checked").length;
    selectedCount.textContent = count ? "With " + count + " selected:" : "With selected:";
  }
  selectAll.addEventListener("change", function () {
    table.querySelectorAll(".row-check").forEach(function (box) {
      box.checked = selectAll.checked;
    });
    countSelected();
  });
  table.addEventListener("change", function (event) {
    if (event.target.classList.contains("row-check")) countSelected();
  });

  // A swapped row keeps its highlight; a bulk action leaves nothing selected.
  document.addEventListener("htmx:afterSettle", function () {
    const row = highlighted();
    if (row) row.classList.add("table-active");
    if (!table.querySelector(".row-check:checked")) selectAll.checked = false;
    countSelected();
  });

  // The server's word on an action ("PR-… is yours now", "PR-… was just claimed by …"), from HX-Trigger.
  const messages = document.getElementById("queue-messages");
  document.body.addEventListener("queue-message", function (event) {
    const box = dismissibleAlert(event.detail.level, event.detail.text); // app.js
    messages.prepend(box);
    while (messages.children.length > 2) messages.lastElementChild.remove();
    if (event.detail.level === "success") {
      window.setTimeout(function () {
        box.remove();
      }, 8000);
    }
  });

  // The views' counts after an action, from HX-Trigger: the sidebar stays true without a reload.
  document.body.addEventListener("queue-counts", function (event) {
    Object.keys(event.detail).forEach(function (name) {
      const count = document.querySelector('#queue-views [data-view="' + name + '"] .view-count');
      if (count) count.textContent = event.detail[name];
    });
  });

  // The actions dialog: empty while it loads; closed once an action in it was done or refused.
  const modal = document.getElementById("queue-action-modal");
  const body = document.getElementById("queue-action-body");
  modal.addEventListener("show.bs.modal", function () {
    body.innerHTML = '<span class="text-body-secondary">Loading…</span>';
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    const status = event.detail.xhr.status;
    if (event.detail.elt.closest("#queue-action-modal") && (status === 200 || status === 409)) {
      window.bootstrap.Modal.getOrCreateInstance(modal).hide();
    }
  });
})();
