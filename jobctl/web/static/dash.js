// jobctl web dashboard: fetches the live part of a page again every few seconds and puts it in place.
// No library; the server renders the HTML. When the session has ended (401) it goes to sign-in.
(function () {
  "use strict";
  var live = document.querySelector("[data-poll]");
  if (!live) return;
  var url = live.getAttribute("data-poll");
  var signIn = live.getAttribute("data-sign-in");
  var every = parseInt(live.getAttribute("data-every"), 10) || 2000;
  var status = document.getElementById("live-status");
  var last = null;

  function say(text) { if (status) status.textContent = text; }

  function tick() {
    if (document.hidden) { setTimeout(tick, every); return; }  // a background tab costs the server nothing
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.status === 401) {
          window.location.assign(signIn);  // it had a session: sign-in says it has ended
          return null;
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text().then(function (html) {
          // replaced only when it changed: a button being pressed is not swapped under the pointer
          if (html !== last) { live.innerHTML = html; last = html; }
          var at = response.headers.get("X-Generated-At");
          say("live · updated " + (at ? new Date(at).toLocaleTimeString() : "now"));
          setTimeout(tick, every);
          return null;
        });
      })
      .catch(function () {
        say("connection lost, retrying…");
        setTimeout(tick, every * 2);
      });
  }
  setTimeout(tick, every);
})();
