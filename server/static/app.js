/* The pages' only script, loaded from this server (the Content-Security-Policy allows no inline script or
   inline event handler). Every page works without it; it only saves a click. */
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // a round picker: choosing a round shows it (a Show button stands in <noscript>)
  document.querySelectorAll("select[data-submit-on-change]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  // Downloads: the format chosen becomes the file ending of the form's address (.../<form>.<format>)
  document.querySelectorAll("select[data-format-switch]").forEach(function (select) {
    select.addEventListener("change", function () {
      select.form.action = select.form.action.replace(/\.[a-z]+$/, "." + select.value);
    });
  });
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
});
