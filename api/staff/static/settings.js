// Settings: the preview follows the form as it is typed (the same POST as the Preview button).
(function () {
  "use strict";
  var form = document.getElementById("settings-form");
  var target = document.getElementById("preview");
  if (!form || !target) return;
  var timer = null;
  var sent = 0;

  function refresh() {
    var mine = ++sent;
    var body = new FormData(form);
    body.set("action", "preview");
    fetch("/staff/settings", { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        if (mine !== sent) return; // an older answer never overwrites a newer one
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("preview");
        if (fresh) target.innerHTML = fresh.innerHTML;
      });
  }

  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  });
})();
