/* mlflow-audit report: interactive findings table.
 * Security rule: data from findings.json is inserted ONLY with textContent /
 * createTextNode, never innerHTML. The CSP allows this script by its hash only. */
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.remove("no-js");
  root.classList.add("js");
  try {
    init();
  } catch (err) {
    // Never leave the reader with nothing: fall back to the static (no-JS) view.
    root.classList.remove("js");
    root.classList.add("no-js");
    throw err;
  }

function init() {

  var SEVERITIES = ["critical", "high", "medium", "low", "info"];
  var STATUSES = ["FAIL", "UNKNOWN", "MUTED", "PASS"];
  var SEV_RANK = {}, ST_RANK = {};
  SEVERITIES.forEach(function (s, i) { SEV_RANK[s] = i; });
  STATUSES.forEach(function (s, i) { ST_RANK[s] = i; });
  var COLUMNS = 8;

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function fmt(n) { return n.toLocaleString("en-US"); }

  // ---- decode the embedded data (see docs/report.md, "Embedded data") ----
  var payload = JSON.parse($("findings-data").textContent);
  var S = payload.strings;
  var FI = {}, EI = {};
  payload.fields.forEach(function (n, i) { FI[n] = i; });
  payload.evidence_fields.forEach(function (n, i) { EI[n] = i; });
  function str(i) { return (i === null || i === undefined) ? null : S[i]; }
  var STRING_FIELDS = payload.fields.filter(function (n) {
    return n !== "evidence" && n !== "remediation_auto";
  });
  var rows = payload.rows.map(function (r, idx) {
    var f = { idx: idx, raw: r, hay: null };
    STRING_FIELDS.forEach(function (n) { f[n] = str(r[FI[n]]); });
    f.remediation_auto = r[FI.remediation_auto];
    f.sevRank = f.severity in SEV_RANK ? SEV_RANK[f.severity] : SEVERITIES.length;
    f.stRank = f.status in ST_RANK ? ST_RANK[f.status] : STATUSES.length;
    return f;
  });
  function evidenceOf(f) {
    return (f.raw[FI.evidence] || []).map(function (e) {
      return {
        call: str(e[EI.call]), as_account: str(e[EI.as_account]), params: e[EI.params] || {},
        answer: str(e[EI.answer]), conclusion: str(e[EI.conclusion])
      };
    });
  }
  function haystack(f) {
    if (f.hay === null) {
      f.hay = [f.check_id, f.title, f.status, f.severity, f.account_id, f.region,
        f.resource_type, f.resource_name, f.resource_arn, f.artifact_store_uri, f.bucket,
        f.expected_owner, f.actual_owner, f.message, f.muted_reason, f.change]
        .filter(function (v) { return v; }).join("\n").toLowerCase();
    }
    return f.hay;
  }

  // ---- state ----
  var state = { page: 0, pageSize: 100, sortKey: null, sortDir: 1, matches: rows, open: {} };
  var filters = {
    severity: $("f-severity"), status: $("f-status"), check_id: $("f-check"),
    account_id: $("f-account"), region: $("f-region"), change: $("f-change"), text: $("f-text")
  };

  function applyFilters() {
    var sev = filters.severity.value, st = filters.status.value, ck = filters.check_id.value;
    var ac = filters.account_id.value, rg = filters.region.value;
    var ch = filters.change ? filters.change.value : "";
    var terms = filters.text.value.toLowerCase().split(/\s+/).filter(function (t) { return t; });
    var out = [];
    for (var i = 0; i < rows.length; i++) {
      var f = rows[i];
      if (sev && f.severity !== sev) continue;
      if (st) {
        if (st === "!PASS") { if (f.status === "PASS") continue; } else if (f.status !== st) continue;
      }
      if (ck && f.check_id !== ck) continue;
      if (ac && f.account_id !== ac) continue;
      if (rg && f.region !== rg) continue;
      if (ch && f.change !== ch) continue;
      if (terms.length) {
        var h = haystack(f), ok = true;
        for (var t = 0; t < terms.length; t++) { if (h.indexOf(terms[t]) < 0) { ok = false; break; } }
        if (!ok) continue;
      }
      out.push(f);
    }
    state.matches = out;
    state.page = 0;
    sortMatches();
    render();
  }

  function sortMatches() {
    var key = state.sortKey, dir = state.sortDir;
    if (!key) {
      state.matches.sort(function (a, b) { return a.idx - b.idx; });
      return;
    }
    var get;
    if (key === "severity") get = function (f) { return f.sevRank; };
    else if (key === "status") get = function (f) { return f.stRank; };
    else get = function (f) { return (f[key] || "").toLowerCase(); };
    var keyed = state.matches.map(function (f) { return [get(f), f]; });
    keyed.sort(function (a, b) {
      if (a[0] < b[0]) return -dir;
      if (a[0] > b[0]) return dir;
      return a[1].idx - b[1].idx;
    });
    state.matches = keyed.map(function (k) { return k[1]; });
  }

  // ---- rendering ----
  var tbody = $("findings-body");

  function chip(prefix, value, known) {
    var cls = known.indexOf(value) >= 0 ? value : "other";
    return el("span", "chip " + prefix + cls, value || "—");
  }

  function cell(tr, cls, child) {
    var td = el("td", cls);
    if (typeof child === "string" || child === null || child === undefined) td.textContent = child || "";
    else td.appendChild(child);
    tr.appendChild(td);
    return td;
  }

  function rowFor(f) {
    var tr = el("tr", "finding-row");
    tr.dataset.idx = String(f.idx);
    var open = !!state.open[f.idx];
    if (open) tr.classList.add("open");
    var btn = el("button", "expand", open ? "▾" : "▸");
    btn.type = "button";
    btn.setAttribute("aria-expanded", open ? "true" : "false");
    btn.setAttribute("aria-label", (open ? "Hide" : "Show") + " details of " + (f.resource_name || "finding"));
    cell(tr, "col-x", btn);
    cell(tr, "c-sev", chip("sev-", f.severity, SEVERITIES));
    var st = chip("st-", f.status, STATUSES);
    var stTd = cell(tr, "c-status", st);
    if (f.change === "new") { stTd.appendChild(document.createTextNode(" ")); stTd.appendChild(el("span", "chip change-new", "new")); }
    var ck = el("code", null, f.check_id);
    cell(tr, "c-check", ck);
    cell(tr, "c-account", el("code", null, f.account_id));
    cell(tr, "c-region", f.region);
    cell(tr, "res c-resource", f.resource_name);
    cell(tr, "msg c-message", f.message);
    return tr;
  }

  function kv(dl, label, value, mono) {
    dl.appendChild(el("dt", null, label));
    dl.appendChild(el("dd", mono ? "arn" : null,
      value === null || value === undefined || value === "" ? "—" : value));
  }

  function detailFor(f) {
    var tr = el("tr", "detail");
    tr.id = "detail-" + f.idx;
    var td = el("td");
    td.colSpan = COLUMNS;
    var box = el("div", "detail-grid");
    if (f.title) box.appendChild(el("strong", "d-title", f.title));
    var dl = el("dl", "kv");
    kv(dl, "Resource type", f.resource_type);
    kv(dl, "ARN", f.resource_arn, true);
    kv(dl, "Artifact store", f.artifact_store_uri, true);
    kv(dl, "Bucket", f.bucket, true);
    kv(dl, "Expected owner", f.expected_owner);
    kv(dl, "Actual owner", f.actual_owner || "not proven");
    if (f.muted_reason) kv(dl, "Waiver", f.muted_reason);
    if (f.caused_by) kv(dl, "Follows from the FAIL of", f.caused_by);
    if (f.change) kv(dl, "Change", f.change);
    box.appendChild(dl);
    if (f.risk) {
      var risk = el("p", "risk");
      risk.appendChild(el("strong", null, "Risk: "));
      risk.appendChild(document.createTextNode(f.risk));
      box.appendChild(risk);
    }
    var ev = evidenceOf(f);
    box.appendChild(el("h4", null, "Evidence"));
    if (ev.length) {
      var t = el("table", "evidence");
      var hr = el("tr");
      ["Call", "As account", "Params", "Answer", "Conclusion"].forEach(function (h) {
        var th = el("th", null, h); th.scope = "col"; hr.appendChild(th);
      });
      var thead = el("thead"); thead.appendChild(hr); t.appendChild(thead);
      var tb = el("tbody");
      ev.forEach(function (e) {
        var r = el("tr", "ev-row");
        r.appendChild(el("td", "ev-call")).appendChild(el("code", null, e.call));
        r.appendChild(el("td", "ev-as")).appendChild(el("code", null, e.as_account || "—"));
        var p = el("td", "ev-params");
        Object.keys(e.params).forEach(function (k) {
          var v = e.params[k];
          p.appendChild(el("div")).appendChild(
            el("code", null, k + "=" + (typeof v === "string" ? v : JSON.stringify(v))));
        });
        r.appendChild(p);
        r.appendChild(el("td", "ev-answer")).appendChild(el("code", null, e.answer));
        r.appendChild(el("td", "ev-conclusion wrap", e.conclusion));
        tb.appendChild(r);
      });
      t.appendChild(tb);
      box.appendChild(t);
    } else {
      box.appendChild(el("p", "muted", "No evidence recorded."));
    }
    if (f.remediation_text || f.remediation_command) {
      box.appendChild(el("h4", null, "Fix"));
      if (f.remediation_text) {
        var fx = el("p", "fix-text", f.remediation_text);
        if (f.remediation_auto) { fx.appendChild(document.createTextNode(" ")); fx.appendChild(el("span", "chip auto", "auto-remediable")); }
        box.appendChild(fx);
      }
      if (f.remediation_command) {
        var wrap = el("div", "cmd-wrap");
        var pre = el("pre", "cmd");
        pre.appendChild(el("code", "fix-command", f.remediation_command));
        wrap.appendChild(pre);
        var copy = el("button", "copy", "Copy");
        copy.type = "button";
        copy.setAttribute("aria-label", "Copy fix command");
        copy.addEventListener("click", function (ev) {
          ev.stopPropagation();
          copyText(f.remediation_command, copy);
        });
        wrap.appendChild(copy);
        box.appendChild(wrap);
      }
    }
    td.appendChild(box);
    tr.appendChild(td);
    return tr;
  }

  function copyText(text, button) {
    function done(ok) {
      button.textContent = ok ? "Copied" : "Copy failed: select the text";
      setTimeout(function () { button.textContent = "Copy"; }, 1800);
    }
    function fallback() {
      var ta = el("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.style.position = "fixed"; ta.style.opacity = "0";
      document.body.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(ta);
      done(ok);
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
    } else {
      fallback();
    }
  }

  function pageCount() { return Math.max(1, Math.ceil(state.matches.length / state.pageSize)); }

  function render() {
    var total = state.matches.length;
    if (state.page >= pageCount()) state.page = pageCount() - 1;
    var start = state.page * state.pageSize;
    var end = Math.min(total, start + state.pageSize);
    var frag = document.createDocumentFragment();
    for (var i = start; i < end; i++) {
      var f = state.matches[i];
      frag.appendChild(rowFor(f));
      if (state.open[f.idx]) frag.appendChild(detailFor(f));
    }
    if (!total) {
      var tr = el("tr"), td = el("td", "empty", "No finding matches these filters.");
      td.colSpan = COLUMNS; tr.appendChild(td); frag.appendChild(tr);
    }
    tbody.replaceChildren(frag);
    $("result-count").textContent = total
      ? "Showing " + fmt(start + 1) + "–" + fmt(end) + " of " + fmt(total) + " matching findings (" + fmt(rows.length) + " total)"
      : "Showing 0 of 0 matching findings (" + fmt(rows.length) + " total)";
    renderPager($("pager-top"));
    renderPager($("pager-bottom"));
    root.dataset.rendered = "1";
  }

  function renderPager(box) {
    var n = pageCount();
    function b(label, aria, page, disabled) {
      var x = el("button", "pg", label);
      x.type = "button";
      x.setAttribute("aria-label", aria);
      x.disabled = disabled;
      x.addEventListener("click", function () { state.page = page; render(); });
      return x;
    }
    var info = el("span", "pg-info", "Page " + fmt(state.page + 1) + " of " + fmt(n));
    var size = el("select", "pg-size");
    size.setAttribute("aria-label", "Rows per page");
    [50, 100, 250, 500].forEach(function (v) {
      var o = el("option", null, v + " / page"); o.value = String(v);
      if (v === state.pageSize) o.selected = true;
      size.appendChild(o);
    });
    size.addEventListener("change", function () { state.pageSize = +size.value; state.page = 0; render(); });
    box.replaceChildren(
      b("«", "First page", 0, state.page === 0),
      b("‹", "Previous page", state.page - 1, state.page === 0),
      info,
      b("›", "Next page", state.page + 1, state.page >= n - 1),
      b("»", "Last page", n - 1, state.page >= n - 1),
      size);
  }

  function toggle(idx) {
    if (state.open[idx]) delete state.open[idx]; else state.open[idx] = true;
    render();
  }

  // ---- events ----
  tbody.addEventListener("click", function (ev) {
    var t = ev.target;
    if (t.closest && (t.closest("tr.detail") || (t.closest("a")))) return;
    var row = t.closest ? t.closest("tr.finding-row") : null;
    if (!row) return;
    if (window.getSelection && String(window.getSelection()) && !t.closest("button")) return;
    toggle(+row.dataset.idx);
  });

  Array.prototype.forEach.call(document.querySelectorAll("#findings-table th[data-sort]"), function (th) {
    th.querySelector("button").addEventListener("click", function () {
      var key = th.dataset.sort;
      if (state.sortKey === key) state.sortDir = -state.sortDir;
      else { state.sortKey = key; state.sortDir = 1; }
      Array.prototype.forEach.call(document.querySelectorAll("#findings-table th[data-sort]"), function (o) {
        o.setAttribute("aria-sort", o === th ? (state.sortDir === 1 ? "ascending" : "descending") : "none");
      });
      sortMatches();
      state.page = 0;
      render();
    });
  });

  Object.keys(filters).forEach(function (k) {
    var c = filters[k];
    if (!c) return;
    if (c.tagName === "INPUT") {
      var timer = null;
      c.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(applyFilters, 120); });
    } else {
      c.addEventListener("change", applyFilters);
    }
  });
  $("filters").addEventListener("submit", function (ev) { ev.preventDefault(); applyFilters(); });
  $("f-reset").addEventListener("click", function () {
    Object.keys(filters).forEach(function (k) { if (filters[k]) filters[k].value = ""; });
    applyFilters();
  });

  // summary tiles set a filter and jump to the table
  Array.prototype.forEach.call(document.querySelectorAll("a[data-filter]"), function (a) {
    a.addEventListener("click", function () {
      Object.keys(filters).forEach(function (k) { if (filters[k]) filters[k].value = ""; });
      var target = filters[a.dataset.filter];
      if (target) target.value = a.dataset.value || "";
      if (a.dataset.status) filters.status.value = a.dataset.status;
      applyFilters();
    });
  });

  // print: the static list is printed; open its <details> so evidence and fixes print too
  var reopened = [];
  window.addEventListener("beforeprint", function () {
    reopened = Array.prototype.filter.call(document.querySelectorAll("#static-findings details"), function (d) {
      if (d.open) return false;
      d.open = true;
      return true;
    });
  });
  window.addEventListener("afterprint", function () {
    reopened.forEach(function (d) { d.open = false; });
    reopened = [];
  });

  render();
  if (window.performance && performance.mark) performance.mark("report-rendered");
}
})();
