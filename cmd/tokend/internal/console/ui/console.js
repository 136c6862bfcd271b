// tokend console: polls /v1/status and /v1/audit and fills the page's
// tables. Shows fingerprints only (the API never answers a token here).
// No external resources; the key, if any, stays in this tab's sessionStorage.
"use strict";
// Loaded async (the first paint never waits for it): it starts once the
// document is parsed.
function tokendConsole() {
  const KEY = "tokend.console.key";
  const $ = (id) => document.getElementById(id);
  const pollMS = Number(document.body.dataset.pollMs) || 3000;
  const meanings = new Map();
  // The glossary maps each guide anchor ("wechat-40164") to its meaning.
  document.querySelectorAll("#errcodes [data-anchor]").forEach((dt) => {
    meanings.set(dt.dataset.anchor, dt.nextElementSibling.textContent);
  });
  let timer = 0;
  let firstRender = true;
  let skew = 0; // server clock minus this browser's, from the Date header
  const now = () => Date.now() + skew;

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function label(text, cls) { return el("span", text, "label " + cls); }
  function row(cells) {
    const tr = el("tr");
    cells.forEach((c) => {
      const td = el("td");
      if (c instanceof Node) td.appendChild(c); else td.textContent = c === undefined || c === null ? "" : String(c);
      tr.appendChild(td);
    });
    return tr;
  }
  function fill(table, rows, empty, cols) {
    const tb = document.querySelector("#" + table + " tbody");
    tb.replaceChildren(...(rows.length ? rows : [row([empty])]));
    if (!rows.length) tb.firstChild.firstChild.colSpan = cols;
  }
  function dur(ms) {
    const neg = ms < 0; let s = Math.floor(Math.abs(ms) / 1000);
    const h = Math.floor(s / 3600); s -= h * 3600; const m = Math.floor(s / 60); s -= m * 60;
    const t = h ? h + "h " + String(m).padStart(2, "0") + "m" : m ? m + "m " + String(s).padStart(2, "0") + "s" : s + "s";
    return neg ? t + " ago" : t;
  }
  function rel(iso) {
    if (!iso) return "";
    const d = Date.parse(iso) - now();
    return d >= 0 ? "in " + dur(d) : dur(d);
  }
  function clock(iso) { return iso ? new Date(iso).toLocaleTimeString() : ""; }
  function timeEl(iso) {
    if (!iso) return "";
    const t = el("time", clock(iso));
    t.setAttribute("datetime", iso);
    return t;
  }
  function meaning(help) { return (help && meanings.get(help.split("#")[1])) || ""; }
  // errorCell: the code, linked to its guide entry (help), its meaning
  // and the raw message; server-rendered rows have the same shape.
  function errorCell(code, msg, help) {
    if (!code && !msg) return el("span", "none", "muted");
    const box = el("div");
    if (code) {
      const l = help ? el("a", "error " + code, "label bad") : label("error " + code, "bad");
      if (help) l.href = help;
      box.appendChild(l);
      const m = meaning(help);
      if (m) box.appendChild(el("div", m, "meaning"));
    }
    if (msg) box.appendChild(el("div", msg, "muted raw"));
    return box;
  }

  async function get(path) {
    const key = sessionStorage.getItem(KEY);
    const headers = key ? { Authorization: "Bearer " + key } : {};
    const r = await fetch(path, { headers, cache: "no-store" });
    const date = Date.parse(r.headers.get("Date") || "");
    if (date) skew = Math.abs(date - Date.now()) > 2000 ? date - Date.now() : 0; // Date has whole seconds
    if (r.status === 401 || r.status === 403) {
      const e = new Error("auth"); e.status = r.status; e.hadKey = !!key; throw e;
    }
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || "HTTP " + r.status);
    return body;
  }

  function problem(text) {
    $("problem").hidden = !text;
    $("problem").textContent = text || "";
  }
  function askKey(msg) {
    $("keymsg").textContent = msg;
    $("keyform").hidden = false;
    $("updated").textContent = "Waiting for an API key.";
    $("key").focus();
  }

  function renderReplicas(st) {
    $("leader-id").textContent = st.leader_id || "none (an election is under way)";
    const rows = (st.replicas || []).map((r) => {
      const lead = r.id === st.leader_id;
      const tr = row([el("code", r.id), lead ? label("\u2605 leader", "ok") : el("span", "follower", "muted"),
        r.corrupt ? label("unreadable entry", "bad") : r.stale ? label("stale", "warn") : label("live", "ok"),
        r.seen ? dur(Date.parse(r.seen) - now()) : "", r.version, r.listen]);
      tr.dataset.replica = r.id;
      if (lead) tr.dataset.leader = "true";
      if (r.stale) tr.className = "stale";
      return tr;
    });
    fill("replicas", rows, st.replicas_error || "No replica has registered yet.", 6);
  }

  function validity(c) {
    const box = el("div", null, "validity");
    if (!c.valid || !c.expires_at) { box.appendChild(el("span", "no valid token", "muted")); return box; }
    const exp = Date.parse(c.expires_at), fetched = Date.parse(c.fetched_at || c.expires_at);
    box.dataset.exp = exp;
    box.dataset.life = Math.max(exp - fetched, 1);
    const m = el("meter");
    m.min = 0; m.max = box.dataset.life; m.low = box.dataset.life * 0.1; m.optimum = box.dataset.life;
    m.setAttribute("aria-label", c.id + " validity");
    box.appendChild(m);
    box.appendChild(el("span", "", "remaining"));
    tick(box);
    return box;
  }
  // tick moves one validity bar to now; the bars count down between polls.
  function tick(box) {
    const life = Number(box.dataset.life), left = Math.max(Number(box.dataset.exp) - now(), 0);
    box.firstChild.value = left;
    box.lastChild.textContent = left ? dur(left) + " left (" + Math.round((100 * left) / life) + "%)" : "expired";
  }
  function state(c) {
    if (c.last_error && !c.valid) return label("failing", "bad");
    if (!c.valid) return label("no token", "bad");
    if (c.last_error) return label("valid, last refresh failed", "warn");
    return label("valid", "ok");
  }
  function renderCreds(creds) {
    const rows = creds.map((c) => {
      const waiting = c.waiting ? c.waiting + (c.waiting_for ? " (" + c.waiting_for + ")" : "") +
        (c.wait_until ? " until " + clock(c.wait_until) : "") : "";
      const tr = row([el("code", c.id), c.kind + (c.parent ? " of " + c.parent : ""), state(c), validity(c),
        c.version, rel(c.next_refresh), waiting, errorCell(c.last_error_code, c.last_error, c.error_help), c.budget_used,
        c.token_fingerprint ? el("code", c.token_fingerprint, "fp") : ""]);
      tr.dataset.credential = c.id;
      return tr;
    });
    fill("creds", rows, "No credentials configured.", 10);
  }

  function renderAudit(a) {
    $("audit-note").hidden = !a.error;
    $("audit-note").textContent = a.error || "";
    const rows = (a.entries || []).map((e) => row([timeEl(e.time), e.replica, e.app ? el("code", e.app) : "",
      e.action, label(e.outcome, e.outcome === "ok" || e.outcome === "acquired" || e.outcome === "refreshed" ? "ok" : "warn"),
      e.errcode ? errorCell(e.errcode, "", e.error_help) : "", e.token_fingerprint ? el("code", e.token_fingerprint, "fp") : "",
      e.detail])).map((tr, i) => { tr.dataset.id = a.entries[i].id; return tr; });
    fill("audit", rows, "No events yet.", 8);
  }

  async function poll() {
    clearTimeout(timer);
    try {
      // The audit list is optional: its failure never hides the status.
      const [st, audit] = await Promise.all([get("/v1/status"),
        get("/v1/audit?limit=50").catch((e) => { if (e.message === "auth") throw e; return { entries: [], error: "Recent events unavailable: " + e.message }; })]);
      $("keyform").hidden = true;
      problem("");
      renderReplicas(st);
      renderCreds(st.apps || []);
      renderAudit(audit);
      $("updated").textContent = "Updated " + new Date().toLocaleTimeString() + "; refreshes every " + pollMS / 1000 + " s.";
      document.body.dataset.state = "ready";
      document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
      if (firstRender) { firstRender = false; performance.mark("console-rendered"); }
    } catch (e) {
      if (e.message === "auth") {
        if (e.hadKey) sessionStorage.removeItem(KEY);
        askKey(e.hadKey ? "The API key was not accepted (HTTP " + e.status + "). Enter a valid key."
          : "This tokend needs an API key to show its status.");
        problem(e.hadKey ? "Wrong API key: this server did not accept it." : "");
        document.body.dataset.state = "key";
        return; // polling resumes when a key is entered
      }
      problem("Cannot read the status: " + e.message + ". Retrying every " + pollMS / 1000 + " s.");
    }
    timer = setTimeout(poll, pollMS);
  }

  $("keyform").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = $("key").value.trim();
    if (!v) return;
    sessionStorage.setItem(KEY, v);
    $("key").value = "";
    poll();
  });
  setInterval(() => document.querySelectorAll(".validity[data-exp]").forEach(tick), 1000);
  if (document.body.dataset.rendered === "server") {
    // The server rendered the first state: show its times in local time
    // and poll from the next interval on.
    document.querySelectorAll("#audit time[datetime]").forEach((t) => { t.textContent = clock(t.getAttribute("datetime")); });
    firstRender = false;
    performance.mark("console-rendered");
    timer = setTimeout(poll, pollMS);
  } else {
    poll();
  }
}
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", tokendConsole);
else tokendConsole();
