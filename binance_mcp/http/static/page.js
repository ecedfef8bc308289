// The approvals page, live (binance_mcp/http/approvals_html.py). Every few seconds it fetches the
// page again and patches it in place: a card whose content did not change stays the same element
// (only its live texts — time left, price now — are updated), so keyboard focus never moves; a new
// card is inserted, a gone one removed. The tab title counts what waits. "Pause updates" stops it,
// also across the page's own reloads after a decision (until the tab is closed).
// Without this script the page works the same with its Refresh link.
(function () {
  "use strict";
  var PERIOD_MS = 5000;
  var PAUSE_KEY = "binance-mcp-approvals-paused";
  var control = document.getElementById("live-control");
  var status = document.getElementById("live-status");
  var announce = document.getElementById("live-announce");
  var paused = false;
  var timer = null;
  var busy = false;

  function key(node) { return node.getAttribute && node.getAttribute("data-key"); }

  function childByKey(list, wanted) {
    for (var i = 0; i < list.children.length; i++) {
      if (key(list.children[i]) === wanted) { return list.children[i]; }
    }
    return null;
  }

  function copyLive(from, into) {
    var olds = into.querySelectorAll("[data-live]");
    var news = from.querySelectorAll("[data-live]");
    for (var i = 0; i < olds.length && i < news.length; i++) {
      if (olds[i].textContent !== news[i].textContent) { olds[i].textContent = news[i].textContent; }
      if (olds[i].className !== news[i].className) { olds[i].className = news[i].className; }
    }
    if (into.className !== from.className) { into.className = from.className; }
  }

  function patchList(list, fresh, region) {
    var wanted = {};
    var i;
    for (i = 0; i < fresh.children.length; i++) { wanted[key(fresh.children[i])] = true; }
    // gone first: a removed card that held focus hands it to its region's heading
    for (i = list.children.length - 1; i >= 0; i--) {
      var old = list.children[i];
      if (!wanted[key(old)]) {
        var hadFocus = old.contains(document.activeElement);
        list.removeChild(old);
        if (hadFocus) { var heading = region.querySelector("h2"); if (heading) { heading.focus(); } }
      }
    }
    for (i = 0; i < fresh.children.length; i++) {
      var node = fresh.children[i];
      var current = childByKey(list, key(node));
      if (current && current.getAttribute("data-sig") === node.getAttribute("data-sig")) {
        copyLive(node, current);
      } else {
        var made = document.importNode(node, true);
        if (current) {
          var focused = current.contains(document.activeElement) ? document.activeElement.getAttribute("name") : null;
          list.replaceChild(made, current);
          if (focused) {
            var again = made.querySelector('[name="' + focused + '"]');
            if (again) { again.focus(); }
          }
        } else {
          list.insertBefore(made, list.children[i] || null);
        }
        current = made;
      }
      if (list.children[i] !== current && !current.contains(document.activeElement)) {
        list.insertBefore(current, list.children[i] || null);
      }
    }
  }

  function patch(doc) {
    var regions = doc.querySelectorAll("[data-region]");
    for (var i = 0; i < regions.length; i++) {
      var fresh = regions[i];
      var region = document.querySelector('[data-region="' + fresh.getAttribute("data-region") + '"]');
      if (!region) { continue; }
      region.hidden = fresh.hidden;
      var heading = region.querySelector("h2");
      var freshHeading = fresh.querySelector("h2");
      if (heading && freshHeading && heading.textContent !== freshHeading.textContent) {
        heading.textContent = freshHeading.textContent;
      }
      var list = region.querySelector("[data-list]");
      var freshList = fresh.querySelector("[data-list]");
      if (list && freshList) { patchList(list, freshList, region); }
      var block = region.querySelector("[data-replace]");
      var freshBlock = fresh.querySelector("[data-replace]");
      if (block && freshBlock && block.innerHTML !== freshBlock.innerHTML) { block.innerHTML = freshBlock.innerHTML; }
    }
  }

  function waiting() {
    return document.querySelectorAll('[data-region="waiting"] [data-list] > section').length;
  }

  function refresh() {
    if (paused || busy) { return; }
    busy = true;
    var before = waiting();
    fetch(window.location.pathname, { credentials: "same-origin", cache: "no-store", headers: { "X-Approvals-Live": "1" } })
      .then(function (response) {
        if (!response.ok || response.redirected) { throw new Error("status " + response.status); }
        return response.text();
      })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        if (!doc.querySelector('[data-region="waiting"]')) { throw new Error("signed out"); }
        patch(doc);
        document.title = doc.title;
        var after = waiting();
        if (after > before) {
          announce.textContent = (after - before) + (after - before === 1 ? " new request waits" : " new requests wait");
        }
        status.textContent = "Live · updated " + new Date().toLocaleTimeString();
      })
      .catch(function () {
        status.textContent = "Could not update: reload the page (you may need to sign in again)";
      })
      .then(function () { busy = false; });
  }

  function schedule() {
    if (timer !== null) { window.clearInterval(timer); }
    timer = paused ? null : window.setInterval(refresh, PERIOD_MS);
  }

  // a pause outlasts the page's own reloads (after Approve or Deny) until the tab is closed
  function remember(value) {
    try { window.sessionStorage.setItem(PAUSE_KEY, value ? "1" : ""); } catch (e) { /* storage off */ }
  }

  function show() {
    control.setAttribute("aria-pressed", paused ? "true" : "false");
    control.textContent = paused ? "Resume updates" : "Pause updates";
    status.textContent = paused ? "Paused: the page does not change until you resume" : "Live";
  }

  if (status) { status.textContent = "Live · updates every " + PERIOD_MS / 1000 + " s"; }
  if (control) {
    control.hidden = false;
    try { paused = window.sessionStorage.getItem(PAUSE_KEY) === "1"; } catch (e) { paused = false; }
    if (paused) { show(); }
    control.addEventListener("click", function () {
      paused = !paused;
      remember(paused);
      show();
      schedule();
      if (!paused) { refresh(); }
    });
  }
  schedule();
}());
