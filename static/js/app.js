/* Small progressive enhancements for the portal. Every page works without
   this file; it adds copy buttons, tabs, the mobile menu and live status. */
(function () {
  "use strict";

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  /* Mobile navigation ----------------------------------------------------- */
  function initNav() {
    $all("[data-nav-toggle]").forEach(function (button) {
      button.addEventListener("click", function () {
        var open = document.body.classList.toggle("nav-open");
        button.setAttribute("aria-expanded", open ? "true" : "false");
      });
    });
    $all(".scrim").forEach(function (scrim) {
      scrim.addEventListener("click", function () { document.body.classList.remove("nav-open"); });
    });
  }

  /* Copy to clipboard ----------------------------------------------------- */
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      try { document.execCommand("copy") ? resolve() : reject(new Error("copy refused")); }
      catch (err) { reject(err); }
      finally { document.body.removeChild(area); }
    });
  }

  function initCopy() {
    document.addEventListener("click", function (event) {
      var button = event.target.closest("[data-copy], [data-copy-target]");
      if (!button) return;
      event.preventDefault();
      var text = button.getAttribute("data-copy");
      if (text === null) {
        var target = $(button.getAttribute("data-copy-target"));
        text = target ? (target.value !== undefined && target.tagName === "INPUT" ? target.value : target.textContent) : "";
      }
      var label = button.getAttribute("data-label") || button.textContent;
      button.setAttribute("data-label", label);
      copyText(text.replace(/\s+$/, "")).then(function () {
        button.textContent = "Copied";
        button.classList.add("copied");
      }, function () {
        button.textContent = "Select and copy";
      }).then(function () {
        setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 1800);
      });
    });
  }

  /* Tabs (snippets) ------------------------------------------------------- */
  function initTabs() {
    $all("[data-tabs]").forEach(function (container) {
      var group = container.getAttribute("data-tabs");
      var buttons = $all("[role=tab]", container);
      function select(name, remember) {
        buttons.forEach(function (b) {
          var on = b.getAttribute("data-tab") === name;
          b.setAttribute("aria-selected", on ? "true" : "false");
          var panel = document.getElementById(b.getAttribute("aria-controls"));
          if (panel) panel.hidden = !on;
        });
        if (remember) { try { localStorage.setItem("tabs:" + group, name); } catch (e) { /* private mode */ } }
      }
      buttons.forEach(function (b) {
        b.addEventListener("click", function () { select(b.getAttribute("data-tab"), true); });
      });
      var saved = null;
      try { saved = localStorage.getItem("tabs:" + group); } catch (e) { saved = null; }
      if (saved && buttons.some(function (b) { return b.getAttribute("data-tab") === saved; })) select(saved, false);
    });
  }

  /* Top-up amount presets ------------------------------------------------- */
  function initAmounts() {
    $all(".amounts[data-for]").forEach(function (box) {
      var input = document.getElementById(box.getAttribute("data-for"));
      if (!input) return;
      var buttons = $all("button[data-amount]", box);
      function mark() {
        buttons.forEach(function (b) { b.classList.toggle("selected", b.getAttribute("data-amount") === input.value); });
      }
      buttons.forEach(function (b) {
        b.addEventListener("click", function (event) {
          event.preventDefault();
          input.value = b.getAttribute("data-amount");
          input.dispatchEvent(new Event("input"));
          mark();
        });
      });
      input.addEventListener("input", function () {
        mark();
        var out = $("[data-credits-for=" + input.id + "]");
        var dollars = parseFloat(input.value);
        if (out) out.textContent = isFinite(dollars) && dollars > 0 ? Math.round(dollars * 100).toLocaleString() + " credits" : "";
      });
      input.dispatchEvent(new Event("input"));
    });
  }

  /* Show a field only for one value of a select ----------------------------- */
  function initShowWhen() {
    $all("[data-show-when]").forEach(function (el) {
      var parts = el.getAttribute("data-show-when").split("=");
      var select = document.getElementById(parts[0]);
      if (!select) return;
      function update() { el.hidden = select.value !== parts[1]; }
      select.addEventListener("change", update);
      update();
    });
  }

  /* Filter a list of checkboxes by text ------------------------------------ */
  function initCheckFilter() {
    $all("[data-filter-checks]").forEach(function (input) {
      var box = $(input.getAttribute("data-filter-checks"));
      if (!box) return;
      input.addEventListener("input", function () {
        var q = input.value.trim().toLowerCase();
        $all("label", box).forEach(function (label) {
          label.hidden = q !== "" && label.textContent.toLowerCase().indexOf(q) === -1;
        });
      });
    });
  }

  /* Filter table rows by text ---------------------------------------------- */
  function initRowFilter() {
    $all("[data-filter-rows]").forEach(function (input) {
      var box = $(input.getAttribute("data-filter-rows"));
      if (!box) return;
      input.addEventListener("input", function () {
        var q = input.value.trim().toLowerCase();
        $all("tr[data-filter-text]", box).forEach(function (row) {
          row.hidden = q !== "" && row.getAttribute("data-filter-text").toLowerCase().indexOf(q) === -1;
        });
      });
    });
  }

  /* Open a <details> from a link elsewhere on the page --------------------- */
  function initOpeners() {
    $all("[data-open]").forEach(function (link) {
      link.addEventListener("click", function () {
        var target = $(link.getAttribute("data-open"));
        if (target) target.open = true;
      });
    });
    if (location.hash) {
      var target = document.getElementById(location.hash.slice(1));
      if (target && target.tagName === "DETAILS") target.open = true;
    }
  }

  /* Submit a filter form as soon as a select changes ------------------------- */
  function initAutosubmit() {
    $all("[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () { if (el.form) el.form.submit(); });
    });
  }

  /* Confirmations ---------------------------------------------------------- */
  function initConfirm() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      var message = form.getAttribute && form.getAttribute("data-confirm");
      if (message && !window.confirm(message)) event.preventDefault();
    });
  }

  /* Live status: poll a JSON URL and reload when the state changes ---------- */
  function initPoll() {
    $all("[data-poll-url]").forEach(function (el) {
      var url = el.getAttribute("data-poll-url");
      var current = el.getAttribute("data-poll-state");
      var interval = parseInt(el.getAttribute("data-poll-interval") || "2000", 10);
      var deadline = Date.now() + parseInt(el.getAttribute("data-poll-for") || "600000", 10);
      function tick() {
        if (Date.now() > deadline || document.hidden) { setTimeout(tick, interval * 2); return; }
        fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (data) {
            if (data && data.state !== undefined && String(data.state) !== current) {
              window.location.reload();
              return;
            }
            setTimeout(tick, interval);
          }, function () { setTimeout(tick, interval * 2); });
      }
      setTimeout(tick, interval);
    });
  }

  /* Live pushes over a WebSocket: reload when the server says something
     changed (media jobs). Polling above stays as the fallback. ------------ */
  function initSocket() {
    $all("[data-ws]").forEach(function (el) {
      if (!window.WebSocket) return;
      var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + el.getAttribute("data-ws");
      var reloadTimer = null;
      function connect(delay) {
        setTimeout(function () {
          var socket = new WebSocket(url);
          socket.onopen = function () { el.setAttribute("data-ws-state", "open"); };
          socket.onmessage = function (message) {
            var data = null;
            try { data = JSON.parse(message.data); } catch (e) { return; }
            if (data && data.type === "job.status" && !reloadTimer) {
              reloadTimer = setTimeout(function () { window.location.reload(); }, 300);
            }
          };
          socket.onclose = function () {
            el.setAttribute("data-ws-state", "closed");
            connect(Math.min((delay || 1000) * 2, 30000));
          };
        }, delay || 0);
      }
      connect(0);
    });
  }

  /* Local times ------------------------------------------------------------ */
  function initLocalTimes() {
    $all("time[data-local]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) {
        el.title = el.textContent.trim() + " UTC";
        el.textContent = d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
      }
    });
  }

  function init() {
    initNav();
    initCopy();
    initTabs();
    initAmounts();
    initShowWhen();
    initCheckFilter();
    initOpeners();
    initRowFilter();
    initAutosubmit();
    initConfirm();
    initPoll();
    initSocket();
    initLocalTimes();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
