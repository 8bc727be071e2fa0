// gazette's editor pages work without this file. It only makes some
// things quicker: forms marked data-live save without a page load (the
// server's answer replaces the page's main part), questions can be dragged
// into a new order, the intro shows a live preview, and the deliveries
// page refreshes itself while an issue is going out.
(function () {
  "use strict";

  function swapMain(html, focusId) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.querySelector("main");
    var main = document.querySelector("main");
    if (!fresh || !main) { return; }
    main.innerHTML = fresh.innerHTML;
    var nav = doc.querySelector("header.top"), top = document.querySelector("header.top");
    if (nav && top) { top.innerHTML = nav.innerHTML; }
    init(main);
    var target = focusId && document.getElementById(focusId);
    if (target) { target.focus(); }
    var flash = main.querySelector(".flash");
    var announce = document.getElementById("announce");
    if (flash && announce) { announce.textContent = flash.textContent; }
  }

  function send(form, submitter) {
    var data = new URLSearchParams(new FormData(form));
    if (submitter && submitter.name) { data.append(submitter.name, submitter.value); }
    var focusId = submitter && submitter.id;
    // getAttribute: a field named "action" hides the form's own property.
    return fetch(form.getAttribute("action"), {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" }
    }).then(function (r) { return r.text(); })
      .then(function (html) { swapMain(html, focusId); })
      .catch(function () { HTMLFormElement.prototype.submit.call(form); });
  }

  function live(root) {
    root.querySelectorAll("form[data-live]").forEach(function (form) {
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        send(form, e.submitter);
      });
    });
  }

  function draggable(root) {
    var list = root.querySelector("ol.items[data-order-form]");
    if (!list) { return; }
    var form = document.getElementById(list.getAttribute("data-order-form"));
    var dragged = null;
    list.querySelectorAll("li[data-q]").forEach(function (li) {
      li.setAttribute("draggable", "true");
      li.addEventListener("dragstart", function (e) {
        dragged = li; li.classList.add("dragging");
        e.dataTransfer.effectAllowed = "move";
        e.dataTransfer.setData("text/plain", li.getAttribute("data-q"));
      });
      li.addEventListener("dragend", function () { li.classList.remove("dragging"); dragged = null; });
      li.addEventListener("dragover", function (e) {
        if (!dragged || dragged === li) { return; }
        e.preventDefault(); li.classList.add("drop-target");
      });
      li.addEventListener("dragleave", function () { li.classList.remove("drop-target"); });
      li.addEventListener("drop", function (e) {
        e.preventDefault(); li.classList.remove("drop-target");
        if (!dragged || dragged === li) { return; }
        var box = li.getBoundingClientRect();
        var after = e.clientY > box.top + box.height / 2;
        list.insertBefore(dragged, after ? li.nextSibling : li);
        var ids = Array.prototype.map.call(list.querySelectorAll("li[data-q]"),
          function (x) { return x.getAttribute("data-q"); });
        form.querySelector("input[name=order]").value = ids.join(",");
        send(form, null);
      });
    });
  }

  function intro(root) {
    var area = root.querySelector("textarea[data-preview-url]");
    var out = root.querySelector("#intro-preview");
    if (!area || !out) { return; }
    var timer = null;
    area.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var data = new URLSearchParams();
        data.append("_token", area.form.querySelector("input[name=_token]").value);
        data.append("intro", area.value);
        fetch(area.getAttribute("data-preview-url"), {
          method: "POST", body: data, credentials: "same-origin",
          headers: { "Content-Type": "application/x-www-form-urlencoded" }
        }).then(function (r) { return r.text(); })
          .then(function (html) { out.innerHTML = html; });
      }, 350);
    });
  }

  var refresher = null;
  function refresh(root) {
    clearTimeout(refresher);
    var el = root.querySelector("[data-refresh]");
    if (!el) { return; }
    refresher = setTimeout(function () {
      fetch(location.href, { credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) { swapMain(html, null); });
    }, 1000 * Number(el.getAttribute("data-refresh") || 3));
  }

  function init(root) { live(root); draggable(root); intro(root); refresh(root); }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
})();
