// Live preview: post the unsaved form to /staff/preview (with its CSRF token) and show the answer.
(function () {
  "use strict";
  var form = document.getElementById("template-form");
  var target = document.getElementById("preview");
  if (!form || !target) return;
  var timer = null;
  var sent = 0;

  function refresh() {
    var mine = ++sent;
    fetch("/staff/preview", { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        if (mine === sent) target.innerHTML = html; // an older answer never overwrites a newer one
      });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }

  form.addEventListener("input", later);
  document.querySelectorAll("select[form='template-form']").forEach(function (select) {
    select.addEventListener("change", refresh);
  });
})();
