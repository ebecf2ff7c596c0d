// Rampart web UI behaviour. Every change goes to the REST API (/api/v1) with the session's
// CSRF token, so the UI has no write path of its own. No inline script anywhere: the
// Content-Security-Policy forbids it. Text from alerts is only ever set with textContent.
(function () {
  "use strict";

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }

  function toast(text, isError) {
    var t = document.getElementById("toast");
    if (!t) return;
    t.textContent = text;
    t.className = isError ? "show error" : "show";
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { t.className = ""; }, 5000);
  }

  // Calls the API; resolves with the parsed body, rejects with the problem's detail.
  function api(method, url, body) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf();
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (r) {
      return r.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!r.ok) {
          var detail = (data && data.detail) || ("HTTP " + r.status);
          if (r.status === 401) { window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search)); }
          throw new Error(detail);
        }
        return data;
      });
    });
  }

  function enc(s) { return encodeURIComponent(s); }

  // Sends a change and reloads the page once it is stored, or shows the API's message in
  // `err` and leaves the form as it was.
  function sendThenReload(method, url, body, err) {
    return api(method, url, body)
      .then(function () { window.location.reload(); })
      .catch(function (e) { err.textContent = e.message; });
  }

  // ---- Sign in / sign out ----
  function setupLogin() {
    var form = document.getElementById("login-form");
    if (!form) return;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var err = document.getElementById("login-error");
      err.textContent = "";
      var body = { username: form.username.value, password: form.password.value };
      if (!body.username.trim() || !body.password) {
        err.textContent = "Give your username and password.";
        return;
      }
      var btn = form.querySelector("button[type=submit]");
      btn.disabled = true;
      fetch("/api/v1/session", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(body)
      }).then(function (r) {
        if (r.ok) {
          var next = form.getAttribute("data-next") || "/alerts";
          if (next.charAt(0) !== "/" || next.charAt(1) === "/") next = "/alerts";
          window.location.assign(next);
          return;
        }
        return r.json().catch(function () { return {}; }).then(function (p) {
          err.textContent = p.detail || "Sign-in failed";
          btn.disabled = false;
        });
      }).catch(function () { err.textContent = "The server did not answer"; btn.disabled = false; });
    });
  }

  document.addEventListener("click", function (ev) {
    var t = ev.target;
    if (!(t instanceof Element)) return;
    if (t.id === "sign-out") {
      api("DELETE", "/api/v1/session").catch(function () {}).then(function () { window.location.assign("/login"); });
    }
  });

  // ---- Queue selection ----
  // Every alert of the view, once "Select all … that match" has gathered them; null while
  // the selection is the ticked rows.
  var matching = null;

  function selectedIds() {
    if (matching) return matching;
    return Array.prototype.map.call(document.querySelectorAll(".row-select:checked"), function (c) { return c.value; });
  }

  // Pages through the API listing of the view (the server renders its address) and selects
  // every alert in it.
  function selectMatching(btn) {
    var ids = [];
    btn.disabled = true;
    btn.textContent = "Selecting…";
    var step = function (url) {
      return api("GET", url).then(function (page) {
        page.items.forEach(function (a) { ids.push(a.id); });
        if (page.nextCursor) return step(btn.getAttribute("data-href") + "&cursor=" + enc(page.nextCursor));
        return ids;
      });
    };
    step(btn.getAttribute("data-href")).then(function (all) {
      matching = all;
      btn.textContent = "All " + all.length + " matching alerts selected";
      updateSelection();
    }).catch(function (e) {
      btn.disabled = false;
      btn.textContent = "Select all that match";
      toast(e.message, true);
    });
  }

  function clearMatching() {
    if (!matching) return;
    matching = null;
    var btn = document.getElementById("select-matching");
    if (btn) { btn.hidden = true; btn.disabled = false; }
  }

  function updateSelection() {
    var ids = selectedIds();
    var count = document.getElementById("selected-count");
    if (count) count.textContent = String(ids.length);
    var open = document.getElementById("manage-open");
    if (open && document.getElementById("alert-table")) open.disabled = ids.length === 0;
    document.querySelectorAll("#alert-table tbody tr").forEach(function (tr) {
      var c = tr.querySelector(".row-select");
      tr.classList.toggle("selected", !!(c && c.checked));
    });
    syncManageTarget();
  }

  document.addEventListener("change", function (ev) {
    var t = ev.target;
    if (!(t instanceof Element)) return;
    if (t.id === "select-all") {
      clearMatching();
      document.querySelectorAll(".row-select").forEach(function (c) { c.checked = t.checked; });
      var more = document.getElementById("select-matching");
      if (more) more.hidden = !t.checked;
      updateSelection();
    } else if (t.classList.contains("row-select")) {
      clearMatching();
      var offer = document.getElementById("select-matching");
      if (offer) offer.hidden = true;
      updateSelection();
    } else if (t.id === "m-class") {
      filterDeterminations();
    }
  });

  // ---- Manage pane (alerts, one alert, incident) ----
  function filterDeterminations() {
    var cls = document.getElementById("m-class");
    var det = document.getElementById("m-det");
    if (!cls || !det) return;
    var c = cls.value;
    Array.prototype.forEach.call(det.options, function (o) {
      if (!o.value) { o.hidden = false; return; }
      var fits = !c || (o.getAttribute("data-for") || "").split(" ").indexOf(c) >= 0;
      o.hidden = !fits;
      o.disabled = !fits;
      if (!fits && o.selected) det.value = "";
    });
  }

  // A bulk update's summary in words: the counts, and why any alert was left as it was.
  function bulkSaid(res) {
    var n = function (list) { return (list && list.length) || 0; };
    var parts = [res.changed + " changed", res.unchanged + " unchanged"];
    if (n(res.notFound)) parts.push(n(res.notFound) + " not found");
    if (n(res.forbidden)) parts.push(n(res.forbidden) + " outside your sources");
    if (n(res.failed)) {
      parts.push(n(res.failed) + " refused (" + res.failed.slice(0, 3).map(function (f) {
        return f.id + ": " + f.error;
      }).join("; ") + (res.failed.length > 3 ? "; …" : "") + ")");
    }
    return parts.join(", ");
  }

  // The manage pane for selected alerts names how many it will change: kept in step with
  // the selection, and closed when nothing is selected any more (a filter change clears it).
  function syncManageTarget() {
    var pane = document.getElementById("manage-pane");
    if (!pane || pane.getAttribute("data-kind") !== "alerts") return;
    var n = selectedIds().length;
    var target = document.getElementById("manage-target");
    if (target) target.textContent = n + " alert" + (n === 1 ? "" : "s") + " selected";
    if (n === 0 && !pane.hidden) closeManage();
  }

  function openManage() {
    var pane = document.getElementById("manage-pane");
    if (!pane) return;
    pane.hidden = false;
    syncManageTarget();
    filterDeterminations();
    var first = pane.querySelector("select");
    if (first) first.focus();
  }

  // A comma-separated source list as the API takes it; empty for none.
  function sourceList(text) {
    return text.split(",").map(function (x) { return x.trim(); }).filter(Boolean);
  }

  // A comment being written when the manage pane saves and reloads the page is put back
  // after the reload, not lost with it.
  function draftKey() { return "rampart-draft:" + location.pathname; }
  function keepDraft() {
    var box = document.getElementById("comment-text");
    if (!box || !box.value.trim()) return;
    try { sessionStorage.setItem(draftKey(), box.value); } catch (_) { /* private mode */ }
  }
  function restoreDraft() {
    var box = document.getElementById("comment-text");
    var draft = null;
    try { draft = sessionStorage.getItem(draftKey()); sessionStorage.removeItem(draftKey()); } catch (_) { return; }
    if (box && draft && !box.value) box.value = draft;
  }

  // ---- Settings: tokens ----
  // A minted token joins the list at once (the page is not reloaded: the secret shown once
  // would go with it). Cells are text, as everywhere.
  function addTokenRow(t) {
    var body = document.querySelector('[data-testid="tokens"] tbody');
    if (!body || !t) return;
    var tr = document.createElement("tr");
    tr.setAttribute("data-id", t.id);
    [t.name, t.role, t.sources ? t.sources.join(", ") : "All", t.createdBy || "you", "just now", "never"].forEach(function (v, i) {
      var td = document.createElement("td");
      if (i >= 4) td.className = "time";
      td.textContent = v;
      tr.appendChild(td);
    });
    var last = document.createElement("td");
    var btn = document.createElement("button");
    btn.type = "button";
    btn.className = "revoke";
    btn.setAttribute("data-id", t.id);
    btn.setAttribute("data-name", t.name);
    btn.textContent = "Revoke";
    last.appendChild(btn);
    tr.appendChild(last);
    body.insertBefore(tr, body.firstChild);
  }

  // ---- Settings: users ----
  // The edit dialog starts from the row's values; Save sends only what changed.
  function openUserEdit(btn) {
    var dlg = document.getElementById("user-dialog");
    if (!dlg) return;
    var form = document.getElementById("user-edit-form");
    form.setAttribute("data-id", btn.getAttribute("data-id"));
    document.getElementById("user-edit-name").textContent = btn.getAttribute("data-username");
    var fields = { "edit-display": "data-display", "edit-role": "data-role", "edit-sources": "data-sources" };
    Object.keys(fields).forEach(function (id) {
      var el = document.getElementById(id);
      el.value = btn.getAttribute(fields[id]) || "";
      el.setAttribute("data-was", el.value);
    });
    var pw = document.getElementById("edit-password");
    pw.value = "";
    var dis = document.getElementById("edit-disabled");
    dis.checked = btn.getAttribute("data-disabled") === "true";
    dis.setAttribute("data-was", String(dis.checked));
    document.getElementById("user-edit-error").textContent = "";
    dlg.showModal();
  }

  function userChanges() {
    var change = {};
    var display = document.getElementById("edit-display");
    if (display.value.trim() !== display.getAttribute("data-was")) change.displayName = display.value.trim();
    var role = document.getElementById("edit-role");
    if (role.value !== role.getAttribute("data-was")) change.role = role.value;
    var src = document.getElementById("edit-sources");
    var list = sourceList(src.value);
    if (list.join(", ") !== sourceList(src.getAttribute("data-was")).join(", ")) {
      change.sources = list.length ? list : null;
    }
    var pw = document.getElementById("edit-password").value;
    if (pw) change.password = pw;
    var dis = document.getElementById("edit-disabled");
    if (String(dis.checked) !== dis.getAttribute("data-was")) change.disabled = dis.checked;
    return change;
  }

  function closeManage() {
    var pane = document.getElementById("manage-pane");
    if (pane) pane.hidden = true;
    var open = document.getElementById("manage-open");
    if (open) open.focus();
  }

  document.addEventListener("click", function (ev) {
    var t = ev.target;
    if (!(t instanceof Element)) return;
    if (t.id === "manage-open") openManage();
    if (t.id === "select-matching" && !matching) selectMatching(t);
    if (t.classList.contains("revoke")) {
      if (!window.confirm("Revoke the token " + t.getAttribute("data-name") + "? Requests that present it are refused from now on.")) return;
      api("DELETE", "/api/v1/tokens/" + enc(t.getAttribute("data-id")))
        .then(function () { window.location.reload(); })
        .catch(function (e) { toast(e.message, true); });
    }
    if (t.classList.contains("user-edit")) openUserEdit(t);
    if (t.id === "user-edit-cancel") {
      var dlg = document.getElementById("user-dialog");
      if (dlg) dlg.close();
    }
    if (t.id === "unlink") {
      if (!window.confirm("Move this alert into a new incident of its own? It stays there: correlation will not move it back.")) return;
      var uerr = document.getElementById("link-error");
      api("POST", "/api/v1/alerts/" + enc(t.getAttribute("data-id")) + "/unlink")
        .then(function () { window.location.reload(); })
        .catch(function (e) { uerr.textContent = e.message; });
    }
    if (t.id === "manage-cancel") closeManage();
    if (t.id === "tree-expand" || t.id === "tree-collapse") {
      var open = t.id === "tree-expand";
      document.querySelectorAll(".tree details").forEach(function (d) { d.open = open; });
    }
    var btn = t.closest ? t.closest("button.entity") : null;
    if (btn) {
      document.querySelectorAll("button.entity").forEach(function (b) { b.setAttribute("aria-pressed", "false"); });
      btn.setAttribute("aria-pressed", "true");
    }
  });

  // The value a select showed when the page was drawn: a single alert's or incident's pane
  // opens on the current values, and sending those back is not a change.
  function initial(sel) {
    var o = Array.prototype.find.call(sel.options, function (x) { return x.defaultSelected; });
    return o ? o.value : (sel.options.length ? sel.options[0].value : "");
  }

  function changeFrom(form) {
    var body = {};
    var moved = function (sel) { return sel.value !== initial(sel); };
    var status = form.status.value;
    if (status && moved(form.status)) body.status = status;
    var assigned = form.assignedTo.value;
    if (assigned !== "__keep" && moved(form.assignedTo)) body.assignedTo = assigned === "" ? null : assigned;
    if (form.classification.value && moved(form.classification)) body.classification = form.classification.value;
    if (form.determination.value && (moved(form.determination) || body.classification)) body.determination = form.determination.value;
    var tags = form.addTags.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
    if (tags.length) body.addTags = tags;
    var gone = Array.prototype.filter.call(form.querySelectorAll('input[name="removeTags"]'), function (b) { return b.checked; })
      .map(function (b) { return b.value; });
    if (gone.length) body.removeTags = gone;
    var comment = form.comment.value.trim();
    if (comment) body.comment = comment;
    return body;
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.id === "manage-form") {
      ev.preventDefault();
      var pane = document.getElementById("manage-pane");
      var kind = pane.getAttribute("data-kind");
      var err = document.getElementById("manage-error");
      err.textContent = "";
      var body = changeFrom(form);
      if (Object.keys(body).length === 0) { err.textContent = "Nothing to change: pick a value or write a comment."; return; }
      var call;
      if (kind === "alerts") {
        var ids = selectedIds();
        var row = ids.length === 1 ? document.querySelector('#alert-table tr[data-id="' + CSS.escape(ids[0]) + '"]') : null;
        if (row) {
          body.version = Number(row.getAttribute("data-version"));
          call = api("PATCH", "/api/v1/alerts/" + enc(ids[0]), body);
        } else {
          body.ids = ids;
          call = api("POST", "/api/v1/alerts/bulk-update", body);
        }
      } else {
        body.version = Number(pane.getAttribute("data-version"));
        var base = kind === "incident" ? "/api/v1/incidents/" : "/api/v1/alerts/";
        call = api("PATCH", base + enc(pane.getAttribute("data-id")), body);
      }
      var save = document.getElementById("manage-save");
      save.disabled = true;
      call.then(function (res) {
        var said = "Saved";
        if (res && typeof res.changed === "number") {
          said = bulkSaid(res);
        }
        // Shown after the reload (see DOMContentLoaded): a toast shown now is gone with it.
        try { sessionStorage.setItem("rampart-toast", said); } catch (_) { toast(said); }
        keepDraft();
        window.location.reload();
      }).catch(function (e) {
        err.textContent = e.message;
        save.disabled = false;
      });
    } else if (form.id === "link-form" || form.id === "merge-form") {
      ev.preventDefault();
      var isLink = form.id === "link-form";
      var target = document.getElementById(isLink ? "link-target" : "merge-target").value.trim();
      var lerr = document.getElementById(isLink ? "link-error" : "merge-error");
      lerr.textContent = "";
      if (!target) { lerr.textContent = "Give the incident id, e.g. inc-…"; return; }
      if (!isLink && !window.confirm("Merge this incident into " + target + "? Its alerts, comments and history move there and this incident points to it. Its status, assignee and tags are not carried over, and a merge cannot be undone.")) return;
      var id = enc(form.getAttribute("data-id"));
      var done = isLink
        ? api("POST", "/api/v1/alerts/" + id + "/link", { incidentId: target }).then(function () { window.location.reload(); })
        : api("POST", "/api/v1/incidents/" + id + "/merge", { into: target }).then(function () { window.location.assign("/incidents/" + enc(target)); });
      done.catch(function (e) { lerr.textContent = e.message; });
    } else if (form.id === "token-form") {
      ev.preventDefault();
      var terr = document.getElementById("token-error");
      terr.textContent = "";
      var req = { name: document.getElementById("token-name").value.trim(), role: document.getElementById("token-role").value };
      var src = sourceList(document.getElementById("token-sources").value);
      if (src.length) req.sources = src;
      api("POST", "/api/v1/tokens", req).then(function (t) {
        document.getElementById("token-secret").textContent = t.token;
        document.getElementById("token-created").hidden = false;
        addTokenRow(t);
        form.reset();
      }).catch(function (e) { terr.textContent = e.message; });
    } else if (form.id === "user-form") {
      ev.preventDefault();
      var uerr = document.getElementById("user-error");
      uerr.textContent = "";
      var user = {
        username: document.getElementById("user-name").value.trim(),
        password: document.getElementById("user-password").value,
        role: document.getElementById("user-role").value
      };
      var display = document.getElementById("user-display").value.trim();
      if (display) user.displayName = display;
      var usrc = sourceList(document.getElementById("user-sources").value);
      if (usrc.length) user.sources = usrc;
      sendThenReload("POST", "/api/v1/users", user, uerr);
    } else if (form.id === "role-form") {
      ev.preventDefault();
      var rerr = document.getElementById("role-error");
      rerr.textContent = "";
      var perms = Array.prototype.map.call(form.querySelectorAll('input[name="perm"]:checked'), function (c) { return c.value; });
      var role = { name: document.getElementById("role-name").value.trim(), permissions: perms };
      var rsrc = sourceList(document.getElementById("role-sources").value);
      if (rsrc.length) role.sources = rsrc;
      sendThenReload("POST", "/api/v1/roles", role, rerr);
    } else if (form.id === "user-edit-form") {
      ev.preventDefault();
      var eerr = document.getElementById("user-edit-error");
      eerr.textContent = "";
      var change = userChanges();
      if (!Object.keys(change).length) { eerr.textContent = "Nothing changed."; return; }
      sendThenReload("PATCH", "/api/v1/users/" + enc(form.getAttribute("data-id")), change, eerr);
    } else if (form.id === "comment-form") {
      ev.preventDefault();
      var text = document.getElementById("comment-text").value.trim();
      var cerr = document.getElementById("comment-error");
      cerr.textContent = "";
      if (!text) { cerr.textContent = "Write a comment first."; return; }
      var kind = form.getAttribute("data-kind") === "incidents" ? "incidents" : "alerts";
      sendThenReload("POST", "/api/v1/" + kind + "/" + enc(form.getAttribute("data-id")) + "/comments", { text: text }, cerr);
    }
  });

  // A message about the last Save stops applying once the form changes.
  document.addEventListener("input", function (ev) {
    var t = ev.target;
    if (t instanceof Element && t.closest("#user-edit-form")) {
      document.getElementById("user-edit-error").textContent = "";
    }
  });

  // ---- Keyboard ----
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    // Boxes and buttons take no letters: j and k still move from a ticked row.
    var typing = (t instanceof HTMLInputElement && t.type !== "checkbox" && t.type !== "radio") ||
      t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement;
    if (ev.key === "/" && !typing) {
      var q = document.getElementById("q");
      if (q) { ev.preventDefault(); q.focus(); q.select(); }
    } else if (ev.key === "Escape") {
      var pane = document.getElementById("manage-pane");
      if (pane && !pane.hidden) closeManage();
    } else if ((ev.key === "j" || ev.key === "k") && !typing) {
      var links = Array.prototype.slice.call(document.querySelectorAll("table.grid td.title a"));
      if (!links.length) return;
      // From a row's box, the row's own link counts as where focus is.
      var row = document.activeElement && document.activeElement.closest ? document.activeElement.closest("tr") : null;
      var here = row ? row.querySelector("td.title a") : null;
      var i = links.indexOf(here || document.activeElement);
      i = ev.key === "j" ? Math.min(links.length - 1, i + 1) : Math.max(0, i - 1);
      links[i].focus();
    }
  });

  // Text filters apply on Enter or Apply, which submit the form; checkboxes and selects
  // apply on change. A text box's change event fires on Enter too, and reached the form
  // as a second, identical search.
  document.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t instanceof HTMLInputElement && t.type === "text" && t.form && t.form.id === "filters") ev.stopPropagation();
  }, true);

  // A status term in the search takes over from the status boxes (query-language.md): the
  // boxes still showed the default New and In progress, and sent with the search they made
  // `status:resolved` match nothing. Capturing, so the boxes are cleared before htmx reads
  // the form.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || form.id !== "filters") return;
    // Through `elements`: the search box and the filter pane sit outside the form element
    // and join it with `form="filters"`.
    var q = form.elements.namedItem("q");
    if (q instanceof HTMLInputElement && q.value.indexOf("status") >= 0) {
      Array.prototype.forEach.call(form.elements, function (c) {
        if (c instanceof HTMLInputElement && c.name === "status") c.checked = false;
      });
    }
  }, true);

  // A new view (filter, page) is a new selection.
  document.addEventListener("htmx:afterSwap", function () { matching = null; updateSelection(); });
  // In a narrow window the details pane sits below the story and comments: bring it into
  // view when an entity fills it, or the click seems to do nothing.
  document.addEventListener("htmx:afterSwap", function (ev) {
    var d = ev.target;
    if (!d || d.id !== "details") return;
    var r = d.getBoundingClientRect();
    if (r.top > window.innerHeight || r.bottom < 0) d.scrollIntoView({ block: "start", behavior: "smooth" });
  });
  document.addEventListener("DOMContentLoaded", function () {
    setupLogin(); updateSelection(); filterDeterminations(); restoreDraft();
    var said = null;
    try { said = sessionStorage.getItem("rampart-toast"); sessionStorage.removeItem("rampart-toast"); } catch (_) { /* private mode */ }
    if (said) toast(said);
  });
})();
