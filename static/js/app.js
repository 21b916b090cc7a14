// Disable submit buttons once a form is sent: a double click files one request, not two
// (the server also refuses duplicates through the form's submission token).
document.addEventListener("submit", function (event) {
  const form = event.target;
  if (form.dataset.noDisable !== undefined) return;
  window.setTimeout(function () {
    form.querySelectorAll("button[type=submit], input[type=submit]").forEach(function (button) {
      button.disabled = true;
    });
  }, 0);
});
// After an htmx swap the new form's buttons are enabled again.
document.addEventListener("htmx:afterRequest", function (event) {
  event.target.querySelectorAll("button[type=submit], input[type=submit]").forEach(function (button) {
    button.disabled = false;
  });
});
