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
// htmx: an expired session answers with the login page; go there instead of swapping it in.
document.addEventListener("htmx:beforeSwap", function (event) {
  const url = event.detail.xhr.responseURL || "";
  if (url.indexOf("/login/") !== -1) {
    event.detail.shouldSwap = false;
    window.location.assign(url);
  }
});
// A Bootstrap alert the user can close; `level` is a Bootstrap colour (success, danger …).
function dismissibleAlert(level, text) {
  const box = document.createElement("div");
  box.className = "alert alert-" + level + " alert-dismissible fade show";
  box.setAttribute("role", level === "danger" ? "alert" : "status");
  box.textContent = text;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "btn-close";
  close.setAttribute("data-bs-dismiss", "alert");
  close.setAttribute("aria-label", "Close");
  box.appendChild(close);
  return box;
}
// htmx: errors that are not form errors (403, 404, 500, network) must not fail silently.
function showHtmxError(text) {
  const box = dismissibleAlert("danger", text);
  box.classList.add("position-fixed", "bottom-0", "end-0", "m-3");
  document.body.appendChild(box);
}
document.addEventListener("htmx:responseError", function (event) {
  const status = event.detail.xhr.status;
  const reasons = {403: "You are not allowed to do that.", 404: "This request no longer exists or is not visible to you."};
  showHtmxError(reasons[status] || "Something went wrong (" + status + "). Nothing was saved; please try again.");
});
document.addEventListener("htmx:sendError", function () {
  showHtmxError("The service desk could not be reached. Nothing was saved; check your connection and try again.");
});
// In development (DEBUG), django-htmx's helper shows any 400 answer as a full error page. Here a 400 is a
// form with its errors, to be swapped in place like in production: keep the helper for the others.
document.body.addEventListener("htmx:beforeOnLoad", function (event) {
  if (event.detail.xhr.status === 400) event.stopPropagation();
});
