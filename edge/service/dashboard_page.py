"""The dashboard page served at ``/``: one self-contained HTML file (no CDN, no external fonts or
scripts), so it works on an offline device and in Chromium's kiosk mode (``/?kiosk=1``).

It shows the annotated MJPEG stream and, polled from ``/api/stats`` once a second, the FPS, the
faces in view and the visitor counts per age group and gender over the rolling windows; with the age check on
(``--age-gate``), a banner per person in view (green "OK", amber "Please show ID", grey while deciding) and the
adult / asked-for-ID counts per window. In kiosk mode with the age check, no age number is shown. An access
token given as ``?token=`` is passed on to the stream and the API."""
from __future__ import annotations

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>agegender</title>
<style>
  * { box-sizing: border-box; }
  html, body { margin: 0; height: 100%; background: #111; color: #eee;
               font: 15px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  header { display: flex; gap: 1.2em; align-items: baseline; padding: .5em 1em; background: #1c1c1c; }
  header h1 { font-size: 1.1em; margin: 0; }
  header a { color: #8ab4f8; }
  .ok { color: #7bd88f; } .bad { color: #ff6b6b; }
  main { display: flex; height: calc(100% - 2.6em); }
  #view { flex: 1 1 auto; display: flex; align-items: center; justify-content: center; min-width: 0; background: #000; }
  #stream { max-width: 100%; max-height: 100%; object-fit: contain; }
  aside { flex: 0 0 22em; overflow-y: auto; padding: .6em 1em; background: #181818; }
  aside h2 { font-size: .95em; text-transform: uppercase; letter-spacing: .05em; color: #aaa; margin: 1em 0 .3em; }
  .big { font-size: 2.2em; font-weight: 600; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  td, th { padding: .15em .3em; text-align: right; border-bottom: 1px solid #2a2a2a; }
  td:first-child, th:first-child { text-align: left; }
  .female { color: #ff9ad5; } .male { color: #7fb8ff; } .undetermined { color: #ccc; }
  body.kiosk header { display: none; } body.kiosk main { height: 100%; } body.kiosk { cursor: none; }
  body.kiosk aside { flex-basis: 26em; font-size: 1.15em; overflow: hidden; }
  #checks:empty { display: none; }
  .banner { margin: .35em 0; padding: .45em .7em; border-radius: .35em; font-size: 1.5em; font-weight: 700; }
  .banner small { display: block; font-size: .5em; font-weight: 400; opacity: .85; }
  .banner.adult { background: #1e7b34; color: #fff; }
  .banner.ask_id { background: #e8a317; color: #111; }
  .banner.pending { background: #3a3a3a; color: #ddd; }
  body.kiosk .banner { font-size: 2.2em; }
  body.kiosk.gated .age { display: none; }
</style>
</head>
<body>
<header>
  <h1>agegender</h1>
  <span>camera: <b id="camera">&hellip;</b></span>
  <span><a href="api/stats" id="api-link">/api/stats</a> &middot; <a href="metrics" id="metrics-link">/metrics</a></span>
</header>
<main>
  <div id="view"><img id="stream" alt="live annotated stream"></div>
  <aside>
    <div><span class="big" id="fps">&ndash;</span> FPS &nbsp; <span class="big" id="present">&ndash;</span> in view</div>
    <div>frame <span id="frame">&ndash;</span> &middot; dropped <span id="dropped">&ndash;</span></div>
    <div id="checks" aria-live="polite"></div>
    <h2>Faces now</h2>
    <table id="faces"><thead><tr><th>#</th><th class="age">age</th><th class="age">group</th><th>gender</th></tr></thead>
      <tbody></tbody></table>
    <div id="windows"></div>
    <p id="error" class="bad"></p>
  </aside>
</main>
<script>
"use strict";
const params = new URLSearchParams(location.search);
const token = params.get("token");
if (params.get("kiosk")) document.body.classList.add("kiosk");
const q = token ? "?token=" + encodeURIComponent(token) : "";
const stream = document.getElementById("stream");
stream.src = "stream.mjpg" + q;
stream.onerror = () => setTimeout(() => {   // the service restarted or the stream was cut: reconnect
  stream.src = "stream.mjpg" + (q ? q + "&" : "?") + "t=" + Date.now();
}, 2000);
document.getElementById("api-link").href = "api/stats" + q;
document.getElementById("metrics-link").href = "metrics" + q;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
function row(cells, cls, classes) {
  const tr = el("tr");
  cells.forEach((c, i) => {
    const td = el("td", String(c), cls);
    if (classes && classes[i]) td.classList.add(classes[i]);
    tr.appendChild(td);
  });
  return tr;
}
// The age check (--age-gate): one banner per person in view, the decision only, never an age.
const GATE_TEXT = {adult: "OK", ask_id: "Please show ID", pending: "Checking\u2026"};
function renderChecks(faces) {
  const gated = faces.filter(f => f.gate !== undefined);
  document.body.classList.toggle("gated", gated.length > 0);
  const box = document.getElementById("checks");
  box.replaceChildren(...gated.map(f => {
    const kind = f.gate_final ? f.gate : "pending";
    const b = el("div", GATE_TEXT[kind], "banner " + kind);
    b.dataset.track = f.track_id;
    b.appendChild(el("small", "person " + f.track_id + (kind === "ask_id" ? " \u00b7 staff: check ID" : "")));
    return b;
  }));
}
function label(seconds) {
  return seconds >= 3600 ? (seconds / 3600) + " h" : seconds >= 60 ? (seconds / 60) + " min" : seconds + " s";
}
function render(s) {
  document.getElementById("fps").textContent = s.fps.toFixed(1);
  document.getElementById("present").textContent = s.present;
  document.getElementById("frame").textContent = s.frame;
  document.getElementById("dropped").textContent = s.metrics.frames_dropped;
  const cam = document.getElementById("camera");
  cam.textContent = s.camera.alive ? "live" : "no frames";
  cam.className = s.camera.alive ? "ok" : "bad";
  const tbody = document.querySelector("#faces tbody");
  tbody.replaceChildren(...s.faces.map(f => row(
    [f.track_id ?? "", f.age === undefined ? "" : f.age.toFixed(0), f.age_group ?? "", f.gender ?? ""],
    f.gender, [null, "age", "age", null])));
  renderChecks(s.faces);
  const box = document.getElementById("windows");
  box.replaceChildren();
  for (const w of s.windows) {
    box.appendChild(el("h2", "Last " + label(w.seconds) + ": " + w.visitors + " visitors"));
    const t = el("table");
    t.className = "window";
    t.dataset.seconds = w.seconds;
    const head = el("tr");
    ["group", "female", "male", "?"].forEach(h => head.appendChild(el("th", h)));
    t.appendChild(head);
    for (const [group, n] of Object.entries(w.by_age_group)) {
      if (!n) continue;                      // only the groups seen in this window
      const cell = w.by_group_gender[group] || {};
      t.appendChild(row([group, cell.female || 0, cell.male || 0, cell.undetermined || 0]));
    }
    t.appendChild(row(["all", w.by_gender.female, w.by_gender.male, w.by_gender.undetermined]));
    box.appendChild(t);
    const checks = w.by_gate || {};
    if ((checks.adult || 0) + (checks.ask_id || 0) > 0) {
      const c = el("div", "age checks: " + (checks.adult || 0) + " adult \u00b7 " + (checks.ask_id || 0) + " asked for ID");
      c.className = "gate-counts";
      c.dataset.seconds = w.seconds;
      box.appendChild(c);
    }
  }
}
async function poll() {
  try {
    const r = await fetch("api/stats", {headers: token ? {"Authorization": "Bearer " + token} : {}, cache: "no-store"});
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
    document.getElementById("error").textContent = "";
  } catch (e) {
    document.getElementById("error").textContent = "stats unavailable: " + e.message;
  }
  setTimeout(poll, 1000);
}
poll();
</script>
</body>
</html>
"""
