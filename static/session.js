// The borrower's session warning (WCAG 2.2.1). The page says how many seconds the session
// lasts if nothing happens (data-seconds); two minutes before the end a dialog asks
// whether to stay, and "Stay signed in" renews the session with one POST. Any htmx request
// renews it as well. Without JavaScript the server keeps a form posted too late instead.
(function () {
  "use strict";
  var box = document.getElementById("session-warning");
  if (!box) { return; }
  var stay = document.getElementById("session-stay");
  var status = document.getElementById("session-status");
  var renewed = document.getElementById("session-renewed");
  var warnAt = parseInt(box.getAttribute("data-warn"), 10) || 120;
  var timer = null;
  var returnTo = null;

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("data-hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function hide() {
    if (box.hidden) { return; }
    box.hidden = true;
    if (returnTo && document.body.contains(returnTo)) { returnTo.focus(); }
    returnTo = null;
  }

  function show(canStay) {
    stay.hidden = !canStay;
    if (!box.hidden) { return; }
    returnTo = document.activeElement;
    box.hidden = false;
    (canStay ? stay : box).focus();
  }

  function start(seconds) {
    if (timer) { clearTimeout(timer); }
    // Less than the warning's two minutes left even after renewing: warn now, no button.
    if (seconds <= warnAt) { show(false); return; }
    timer = setTimeout(function () { show(true); }, (seconds - warnAt) * 1000);
  }

  stay.addEventListener("click", function () {
    var request = new XMLHttpRequest();
    request.open("POST", box.getAttribute("data-extend"));
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.setRequestHeader("Accept", "application/json");
    request.onload = function () {
      var answer = null;
      try { answer = JSON.parse(request.responseText); } catch (error) { answer = null; }
      if (request.status === 200 && answer && typeof answer.seconds === "number") {
        hide();
        status.textContent = renewed.content.textContent;
        start(answer.seconds);
      } else {
        window.location.reload();  // ended after all: the server shows what to do
      }
    };
    request.send();
  });

  document.body.addEventListener("htmx:afterRequest", function () {
    hide();
    start(parseInt(box.getAttribute("data-seconds"), 10) || 0);
  });

  box.setAttribute("tabindex", "-1");
  start(parseInt(box.getAttribute("data-seconds"), 10) || 0);
}());
