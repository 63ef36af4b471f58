// The dashboard's script, served as /dashboard.js. Plain browser JavaScript:
// it polls the queue overview every 2 s and never puts the token in a URL.

export const DASHBOARD_JS = `"use strict";
const $ = (id) => document.getElementById(id);
const STATES = ["queued", "leased", "done", "failed", "cancelled"];
let timer = null;

function token() { return sessionStorage.getItem("dist-token") || ""; }

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { authorization: "Bearer " + token(), "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    referrerPolicy: "no-referrer",
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((data.error && data.error.code) || String(res.status));
  return data;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
}

function ago(t, now) { return t ? Math.max(0, Math.round((now - t) / 1000)) + " s ago" : "-"; }

function render(o) {
  const counts = $("counts");
  counts.replaceChildren(...STATES.map((s) => {
    const div = document.createElement("div");
    div.className = "card";
    div.dataset.state = s;
    const b = document.createElement("b");
    b.textContent = String(o.counts[s]);
    div.append(b, s);
    return div;
  }));
  const max = Math.max(1, ...o.throughput.map((m) => m[1] + m[2]));
  $("bars").replaceChildren(...o.throughput.map((m) => {
    const bar = document.createElement("div");
    bar.style.height = Math.round(((m[1] + m[2]) / max) * 100) + "%";
    bar.title = new Date(m[0]).toLocaleTimeString() + ": " + m[1] + " done, " + m[2] + " failed";
    return bar;
  }));
  $("agents").replaceChildren(...o.agents.map((a) => {
    const tr = document.createElement("tr");
    cell(tr, a.agentId); cell(tr, ago(a.lastPollAt, o.now)); cell(tr, String(a.slots)); cell(tr, String(a.running));
    return tr;
  }));
  $("running").replaceChildren(...o.running.map((r) => {
    const tr = document.createElement("tr");
    cell(tr, r.jobId); cell(tr, r.agentId);
    cell(tr, r.fraction === null ? "-" : Math.round(r.fraction * 100) + "%" + (r.message ? " · " + r.message : ""));
    return tr;
  }));
  $("recent").replaceChildren(...o.recent.map((r) => {
    const tr = document.createElement("tr");
    cell(tr, r.jobId); cell(tr, r.ok ? "ok" : "failed: " + (r.error || ""), r.ok ? "ok" : "bad");
    cell(tr, r.agentId || "-"); cell(tr, ago(r.finishedAt, o.now));
    return tr;
  }));
  $("status").textContent = "live · " + new Date(o.now).toLocaleTimeString();
}

async function refresh() {
  try {
    render(await api("GET", "/v1/queues/" + encodeURIComponent($("queue").value) + "/overview"));
  } catch (e) {
    $("status").textContent = "error: " + e.message;
    if (e.message === "unauthorized") logout();
  }
}

function start() {
  $("login").hidden = true;
  $("main").hidden = false;
  refresh();
  clearInterval(timer);
  timer = setInterval(refresh, 2000);
}

function logout() {
  sessionStorage.removeItem("dist-token");
  clearInterval(timer);
  $("main").hidden = true;
  $("login").hidden = false;
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem("dist-token", $("token").value.trim());
  $("token").value = "";
  start();
});
$("logout").addEventListener("click", logout);
$("queue").addEventListener("change", refresh);
$("submit").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const inputs = JSON.parse($("inputs").value);
    const res = await api("POST", "/v1/jobs", { fn: $("fn").value, inputs, queue: $("queue").value });
    $("submitted").textContent = "submitted batch " + res.batchId + " (" + res.jobIds.length + " jobs)";
    refresh();
  } catch (err) {
    $("submitted").textContent = "not submitted: " + err.message;
  }
});
if (token()) start();
`;
