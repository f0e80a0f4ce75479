// The console's only script: confirmation before destructive forms (data-confirm), since the
// Content-Security-Policy allows no inline handlers.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : "";
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
