// qbus dashboard: live updates and countdowns. No build step, no framework.
// The server sends "change" events (server-sent events) naming the agreements that changed; the page
// then re-fetches its own live part (same URL, header X-Qbus-Partial: 1) and swaps it in. While the
// user is typing in a form, the swap waits and a banner offers a refresh instead.
(function () {
  "use strict";
  var body = document.body;
  var strings = {};
  try { strings = JSON.parse(document.getElementById("qbus-strings").textContent); } catch (e) { /* defaults */ }
  function say(key, fallback) { return strings[key] || fallback; }

  // --- countdowns -------------------------------------------------------------------------------
  function span(ms) {
    var minutes = Math.floor(Math.abs(ms) / 60000);
    var d = Math.floor(minutes / 1440), h = Math.floor((minutes % 1440) / 60), m = minutes % 60;
    var zh = document.documentElement.lang.indexOf("zh") === 0;
    var parts = [];
    var du = say("days_short", "d"), hu = say("hours_short", "h"), mu = say("minutes_short", "m");
    if (d) parts.push(d + (zh ? du : " " + du));
    if (h && d < 10) parts.push(h + (zh ? hu : " " + hu));
    if (!d && (m || !parts.length)) parts.push(m + (zh ? mu : " " + mu));
    return parts.join(zh ? "" : " ");
  }
  function tick() {
    var now = Date.now();
    var nodes = document.querySelectorAll("[data-due]");
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) continue;
      var left = due - now;
      var text = left > 0 ? say("countdown_in", "in {d}") : say("countdown_overdue", "overdue by {d}");
      el.textContent = text.replace("{d}", span(left));
      if (left <= 0) { el.classList.remove("urgency-ok", "urgency-due_soon"); el.classList.add("urgency-overdue"); }
    }
  }
  tick();
  setInterval(tick, 15000);

  // --- live part ----------------------------------------------------------------------------------
  var streamUrl = body.getAttribute("data-stream");
  if (!streamUrl || !window.EventSource) return;
  var status = document.getElementById("live-status");
  var banner = document.getElementById("live-banner");
  // The position is the sum of the page's agreements' chain lengths: it only ever grows.
  var renderedPosition = parseInt(body.getAttribute("data-position") || "0", 10);
  var inflight = false, again = false;

  function setStatus(state) {
    if (!status) return;
    status.setAttribute("data-state", state);
    var text = status.querySelector(".live-text");
    if (text) text.textContent = state === "live" ? say("live", "Live") : say("reconnecting", "Reconnecting…");
  }
  function typing() {
    var live = document.getElementById("live");
    var active = document.activeElement;
    if (live && active && live.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) return true;
    var fields = live ? live.querySelectorAll("textarea, input[type=text], input:not([type])") : [];
    for (var i = 0; i < fields.length; i++) { if (fields[i].value) return true; }
    return false;
  }
  function refresh() {
    if (inflight) { again = true; return; }
    if (typing()) { if (banner) banner.hidden = false; return; }
    inflight = true;
    fetch(window.location.pathname + window.location.search, {
      headers: { "X-Qbus-Partial": "1" }, credentials: "same-origin", cache: "no-store"
    }).then(function (response) {
      if (response.status === 401 || response.redirected) { window.location.reload(); return null; }
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (html === null) return;
      var live = document.getElementById("live");
      if (live) { live.innerHTML = html; tick(); }
      if (banner) banner.hidden = true;
      body.setAttribute("data-refreshed", String(Date.now()));
    }).catch(function () { /* the next change retries */ }).then(function () {
      inflight = false;
      if (again) { again = false; refresh(); }
    });
  }
  if (banner) {
    var button = document.getElementById("live-refresh");
    if (button) button.addEventListener("click", function () { window.location.reload(); });
  }

  var source = new EventSource(streamUrl);
  source.addEventListener("hello", function (event) {
    setStatus("live");
    try {
      var position = JSON.parse(event.data).position;
      if (position > renderedPosition) { renderedPosition = position; refresh(); }  // missed something while away
    } catch (e) { /* ignore */ }
  });
  source.addEventListener("change", function (event) {
    try { renderedPosition = Math.max(renderedPosition, JSON.parse(event.data).position); } catch (e) { /* ignore */ }
    refresh();
  });
  source.onopen = function () { setStatus("live"); };
  source.onerror = function () { setStatus("reconnecting"); };
})();
