// nlbsim ui: the page. Plain JavaScript and SVG, no framework. The server
// pushes the cluster's state over server-sent events (/api/stream), as an
// object holding the parts that changed; render() redraws those parts.
// Changes are POSTs that carry the token from the page's URL.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const token = new URLSearchParams(location.search).get("token") || "";
const state = {};           // the parts as last received
let layout = { byHost: {}, byId: {} }; // where each vertex was drawn
let animation = null;       // the trace being animated

// ---- helpers ---------------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function svg(tag, attrs, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.append(e);
  return e;
}

function status(text, kind) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = "status " + (kind || "");
}

const pct = (x) => (100 * x).toFixed(1) + "%";

// ---- changes -----------------------------------------------------------------

async function post(path, body, what) {
  status(what + "…", "busy");
  try {
    const r = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Nlbsim-Token": token },
      body: JSON.stringify(body || {}),
    });
    const out = await r.json();
    if (!r.ok) { status(what + ": " + out.error, "error"); return null; }
    status(out.result || what + ": done");
    return out;
  } catch (e) {
    status(what + ": " + e, "error");
    return null;
  }
}

function wireControls() {
  document.getElementById("send10").addEventListener("click", async () => {
    // The run comes back over the stream, like runs started from the CLI.
    const report = await post("/api/trace", { requests: 10 }, "sending 10 requests");
    if (report) status("10 requests traced");
  });
  document.getElementById("run-traffic").addEventListener("click", () => {
    const n = Number(document.getElementById("traffic-n").value);
    post("/api/traffic", { requests: n, concurrency: 8 }, "sending " + n + " requests");
  });
  document.getElementById("scale").addEventListener("click", () => {
    const n = Number(document.getElementById("replicas").value);
    post("/api/scale", { replicas: n }, "scaling to " + n);
  });
  // A refused settings change puts the switches back as the cluster has them.
  const settings = async (body, what) => { if (!(await post("/api/settings", body, what)) && state.settings) renderSettings(); };
  for (const b of document.querySelectorAll("button.mode")) {
    b.addEventListener("click", () => settings({ mode: b.dataset.mode }, "switching to " + b.dataset.mode + " mode"));
  }
  document.getElementById("cross-zone").addEventListener("change", (e) =>
    settings({ crossZone: e.target.checked }, "cross-zone " + (e.target.checked ? "on" : "off")));
  document.getElementById("preserve-ip").addEventListener("change", (e) =>
    settings({ preserveClientIP: e.target.checked }, "client IP preservation " + (e.target.checked ? "on" : "off")));
  if (!token) {
    for (const c of document.querySelectorAll("#controls button, #controls input, header button, header input")) c.disabled = true;
    status("read-only: open the URL that nlbsim ui printed (with its token) to change the cluster");
  }
}

// ---- the stream ----------------------------------------------------------------

function connect() {
  const es = new EventSource("/api/stream");
  es.onmessage = (m) => {
    const parts = JSON.parse(m.data);
    Object.assign(state, parts);
    render(parts);
  };
}

function render(parts) {
  // The picture shows the objects' state too (a stopped node, a failing pod).
  const redraw = state.graph && ("graph" in parts || "objects" in parts);
  if ("settings" in parts) renderSettings();
  if (redraw) renderGraph();
  if ("objects" in parts || "settings" in parts) renderObjects();
  if ("targets" in parts) renderTargets();
  if ("rules" in parts) renderRules();
  if ("events" in parts) renderEvents();
  if ("runs" in parts || redraw) renderRuns(!redraw);
  if ("busy" in parts && parts.busy) status(parts.busy, "busy");
  else if ("busy" in parts && document.getElementById("status").classList.contains("busy")) status("");
  if ("error" in parts && parts.error) status(parts.error, "error");
}

function renderSettings() {
  const s = state.settings;
  document.getElementById("cluster").textContent = s.cluster;
  document.title = "nlbsim ui · " + s.cluster;
  for (const b of document.querySelectorAll("button.mode")) b.classList.toggle("active", b.dataset.mode === s.mode);
  document.getElementById("cross-zone").checked = s.crossZone;
  document.getElementById("preserve-ip").checked = s.preserveClientIP;
  document.getElementById("etp").textContent = "externalTrafficPolicy " + s.externalTrafficPolicy + " · time scale " + s.timeScale;
  document.getElementById("replicas").max = s.maxReplicas;
  document.body.dataset.mode = s.mode;
}

// ---- topology ------------------------------------------------------------------

// Columns of an AZ's lane: client, NLB node, worker nodes with their pods,
// control-plane ENIs and targets whose host is gone.
const COL = { clientHost: 16, vpcRouter: 16, nlbNode: 226, k8sNode: 470, eksENI: 830, goneTarget: 830 };
const VW = 190, VH = 38, PODH = 34, NODEW = 320, viewWidth = 1040;

function renderGraph() {
  const g = state.graph;
  document.getElementById("graph-title").textContent = g.title;
  const root = document.getElementById("topology");
  root.replaceChildren();
  layout = { byHost: {}, byId: {} };
  const place = (v, x, y, w, h, parent) => {
    const box = { x, y, w: w || VW, h: h || VH };
    layout.byId[v.id] = box;
    if (v.host) layout.byHost[v.host] = box;
    const gv = svg("g", { class: "vertex " + v.kind, "data-host": v.host || "", "data-id": v.id }, parent);
    svg("rect", { x, y, width: box.w, height: box.h }, gv);
    v.lines.forEach((line, i) => {
      const t = svg("text", { x: x + 7, y: y + 15 + i * 14, class: "l" + (i + 1) }, gv);
      t.textContent = line;
    });
    return gv;
  };
  const groupsLayer = svg("g", {}, root);
  const edgeLayer = svg("g", { id: "edges" }, root);
  const vertexLayer = svg("g", {}, root);
  svg("g", { id: "flows" }, root);
  svg("g", { id: "trace-layer" }, root);

  let y = 30;
  const vpcLabel = svg("text", { x: 8, y: 18, class: "glabel" }, groupsLayer);
  vpcLabel.textContent = g.vpc.label;
  vpcLabel.parentNode.classList.add("group");
  // Vertices straight in the VPC box (the router, hosts outside the AZs).
  let x = 16;
  for (const v of g.vpc.vertices) { place(v, x, y, VW, VH, vertexLayer); x += VW + 20; }
  if (g.vpc.vertices.length) y += VH + 16;

  for (const az of g.vpc.groups) {
    const top = y;
    const colY = {};
    const next = (kind, h) => { const at = colY[kind] || top + 22; colY[kind] = at + h + 10; return at; };
    for (const v of az.vertices) {
      const col = COL[v.kind] !== undefined ? COL[v.kind] : 16;
      place(v, col, next(col, VH), VW, VH, vertexLayer);
    }
    for (const box of az.groups) { // a node with its pods, or the pending pods
      const pods = box.vertices.filter((v) => v.kind !== "k8sNode");
      const node = box.vertices.find((v) => v.kind === "k8sNode");
      const h = 22 + (node ? VH + 8 : 0) + pods.length * (PODH + 4) + 6;
      const bx = COL.k8sNode - 8, by = next(COL.k8sNode, h);
      const gb = svg("g", { class: "group " + box.kind, "data-id": box.id }, groupsLayer);
      svg("rect", { x: bx, y: by, width: NODEW, height: h, rx: 6 }, gb);
      svg("text", { x: bx + 6, y: by + 14, class: "glabel" }, gb).textContent = box.label;
      let vy = by + 22;
      if (node) {
        const gv = place(node, bx + 8, vy, NODEW - 16, VH, vertexLayer);
        const n = (state.objects ? state.objects.nodes : []).find((o) => o.name === node.host);
        if (n && (n.stopped || n.notReady)) gv.classList.add("down");
        vy += VH + 8;
      }
      for (const p of pods) {
        const gv = place(p, bx + 40, vy, NODEW - 56, PODH, vertexLayer);
        const o = (state.objects ? state.objects.pods : []).find((q) => q.name === p.host);
        if (o && (!o.ready || o.failing)) gv.classList.add("down");
        vy += PODH + 4;
      }
    }
    const bottom = Math.max(top + 60, ...Object.values(colY)) + 4;
    const gz = svg("g", { class: "group vpcRouter", "data-id": az.id }, groupsLayer);
    svg("rect", { x: 6, y: top, width: 1024, height: bottom - top, rx: 8 }, gz);
    svg("text", { x: 12, y: top + 14, class: "glabel" }, gz).textContent = az.label;
    y = bottom + 12;
  }
  root.setAttribute("viewBox", `0 0 ${viewWidth} ${y}`);

  for (const e of g.edges) drawEdge(edgeLayer, e);
}

// drawEdge joins two vertices: right side to left side when the target is
// to the right, otherwise a curve around their right sides.
function drawEdge(parent, e) {
  const a = layout.byId[e.from], b = layout.byId[e.to];
  if (!a || !b) return;
  let d;
  if (b.x > a.x + a.w / 2) {
    const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2;
    const mx = (x1 + x2) / 2;
    d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
  } else {
    const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x + b.w, y2 = b.y + b.h / 2;
    const bulge = Math.max(x1, x2) + 30 + Math.abs(y2 - y1) / 12;
    d = `M${x1},${y1} C${bulge},${y1} ${bulge},${y2} ${x2},${y2}`;
  }
  const p = svg("path", { d, class: "edge " + e.kind, "data-from": e.from, "data-to": e.to }, parent);
  svg("title", {}, p).textContent = e.label;
}

const center = (box) => ({ x: box.x + box.w / 2, y: box.y + box.h / 2 });

// boxOf finds where a hop's host was drawn; the VPC fabric is its router.
function boxOf(host) { return layout.byHost[host]; }

// ---- traced requests ---------------------------------------------------------------

// drawTrace draws each request of a trace report as a path through the
// hosts its hops name, exactly as the report gives them, and animates them
// one after another, hop by hop, with the addresses at each hop.
function drawTrace(report, mode, animate) {
  if (animation) { cancelAnimationFrame(animation.frame); animation = null; }
  const layer = document.getElementById("trace-layer");
  layer.replaceChildren();
  const list = document.getElementById("paths");
  list.replaceChildren();
  document.getElementById("paths-title").textContent = `(${report.requests.length} requests, ${mode || "?"} mode)`;
  report.requests.forEach((req, i) => {
    const hops = req.hops || [];
    const gp = svg("g", { class: "trace-path", "data-id": req.id, "data-pod": req.pod || "", "data-hops": JSON.stringify(hops) }, layer);
    const off = (i - report.requests.length / 2) * 2.5;
    const pts = hops.map((h) => boxOf(h.host)).filter(Boolean).map(center).map((c) => `${c.x + off},${c.y + off}`);
    svg("polyline", { points: pts.join(" ") }, gp);
    const row = el("div", { class: "path-row" + (req.error ? " error" : ""), "data-id": req.id, "data-hops": JSON.stringify(hops) },
      el("span", { class: "id" }, "#" + req.id));
    if (req.error) row.append("failed: " + req.error);
    hops.forEach((h, j) => {
      if (j > 0) row.append(el("span", { class: "arrow" }, "→"));
      row.append(el("span", { class: "hop", "data-host": h.host },
        el("span", { class: "host" }, h.host), " " + h.src + " → " + h.dst,
        h.nat ? el("span", { class: "nat" }, " " + h.nat.kind + " by " + h.nat.by) : ""));
    });
    list.append(row);
  });
  if (animate) animateTrace(report);
}

// animateTrace moves a packet along each request's hops in turn, showing
// the addresses the packet had as it left each hop.
function animateTrace(report) {
  const layer = document.getElementById("trace-layer");
  const dot = svg("circle", { r: 7, class: "packet" }, layer);
  const label = svg("g", { class: "hop-label" }, layer);
  const labelBox = svg("rect", { height: 18 }, label);
  const labelText = svg("text", {}, label);
  const steps = [];
  for (const req of report.requests) {
    const hops = (req.hops || []).filter((h) => boxOf(h.host));
    for (let j = 1; j < hops.length; j++) steps.push({ req, from: hops[j - 1], to: hops[j], index: j });
  }
  const perStep = Math.max(120, Math.min(450, 9000 / Math.max(steps.length, 1)));
  const start = performance.now();
  const rows = document.querySelectorAll("#paths .path-row");
  const tick = (now) => {
    const elapsed = Math.max(0, now - start); // a frame's time can precede start
    const k = Math.floor(elapsed / perStep);
    if (k >= steps.length) { dot.remove(); label.remove(); setActive(null); animation = null; return; }
    const s = steps[k], t = (elapsed % perStep) / perStep;
    const a = center(boxOf(s.from.host)), b = center(boxOf(s.to.host));
    const x = a.x + (b.x - a.x) * t, y = a.y + (b.y - a.y) * t;
    dot.setAttribute("cx", x); dot.setAttribute("cy", y);
    const hop = s.to;
    labelText.textContent = `#${s.req.id} ${hop.host}: ${hop.src} → ${hop.dst}` + (hop.nat ? ` (${hop.nat.kind})` : "");
    const width = labelText.getComputedTextLength() + 12;
    const lx = Math.max(0, Math.min(b.x, viewWidth - width)); // inside the picture
    labelText.setAttribute("x", lx + 6); labelText.setAttribute("y", b.y - 22);
    labelBox.setAttribute("x", lx); labelBox.setAttribute("y", b.y - 35);
    labelBox.setAttribute("width", width);
    setActive(s.req.id, s.to.host, rows);
    animation.frame = requestAnimationFrame(tick);
  };
  animation = { frame: requestAnimationFrame(tick) };
}

function setActive(id, host, rows) {
  for (const p of document.querySelectorAll("#trace-layer .trace-path")) p.classList.toggle("active", String(id) === p.dataset.id);
  for (const r of rows || document.querySelectorAll("#paths .path-row")) {
    for (const h of r.querySelectorAll(".hop")) h.classList.toggle("playing", r.dataset.id === String(id) && h.dataset.host === host);
  }
}

// ---- runs: distribution, flows, split view --------------------------------------------

function renderRuns(newRunsOnly) {
  const runs = state.runs;
  if (!runs || !state.graph) return;
  const recent = runs.recent || [];
  const lastTrace = [...recent].reverse().find((r) => r.kind === "trace");
  const lastTraffic = [...recent].reverse().find((r) => r.kind === "traffic");
  const shown = document.getElementById("trace-layer").dataset.shown;
  if (lastTrace) {
    const key = lastTrace.time;
    // A new trace (from this page or the CLI) is drawn and animated; a
    // redrawn topology redraws the last one without animation.
    if (key !== shown || !newRunsOnly) {
      drawTrace(lastTrace.trace, lastTrace.mode, key !== shown && shown !== undefined);
      document.getElementById("trace-layer").dataset.shown = key;
    }
  } else {
    document.getElementById("trace-layer").dataset.shown = "";
  }
  if (lastTraffic) { renderDistribution(document.getElementById("distribution"), lastTraffic, true); drawFlows(lastTraffic.traffic); }
  renderSplit(runs.lastByMode || {});
}

// renderDistribution draws the requests per pod against the share the
// installed rules predict, and where they entered.
function renderDistribution(box, run, full) {
  const r = run.traffic;
  box.replaceChildren();
  const served = r.requests - r.errors;
  if (full) {
    document.getElementById("dist-title").textContent =
      `(${r.requests} requests from ${r.from} to ${r.to}, ${r.mode} mode, ${r.errors} errors` +
      (r.pValue != null ? `, p-value ${r.pValue.toPrecision(3)}` : "") + ")";
  }
  const section = (title, counts, total, expected) => {
    const wrap = el("div", { class: "bars", "data-section": title });
    wrap.append(el("h3", {}, title));
    const names = Object.keys(counts).sort();
    for (const n of names) {
      const share = total ? counts[n] / total : 0;
      const track = el("div", { class: "track" });
      const fill = el("div", { class: "fill" });
      fill.style.width = pct(share);
      track.append(fill);
      let note = counts[n] + " · " + pct(share);
      if (expected && n in expected) {
        const m = el("div", { class: "expected", title: "expected " + pct(expected[n]) });
        m.style.left = pct(expected[n]);
        track.append(m);
        note += " (exp. " + pct(expected[n]) + ")";
      }
      wrap.append(el("div", { class: "bar-row", "data-name": n, "data-count": counts[n] }, el("span", { class: "name", title: n }, n), track, el("span", {}, note)));
    }
    box.append(wrap);
  };
  section("pod (black line: expected from the installed rules)", r.byPod, served, r.expected);
  if (full) {
    section("NLB address", r.byNLBAddress, r.requests);
    if (Object.keys(r.byNode || {}).length) section("node that received the NLB's packet", r.byNode, served);
    section("source IP the pod saw", r.bySourceSeen, served);
  }
}

// drawFlows puts a traffic run's counts on the topology as badges: the
// aggregate of any number of requests, never one path per request.
function drawFlows(r) {
  const layer = document.getElementById("flows");
  if (!layer) return;
  layer.replaceChildren();
  const badge = (box, n) => {
    if (!box || !n) return;
    const g = svg("g", { class: "badge" }, layer);
    const t = svg("text", { x: box.x + box.w - 6, y: box.y + 12, "text-anchor": "end" }, g);
    t.textContent = n;
    const w = 8 + 6 * String(n).length;
    const rect = svg("rect", { x: box.x + box.w - w - 2, y: box.y + 2, width: w, height: 13, rx: 6 }, g);
    g.insertBefore(rect, t);
  };
  const nlbByIP = {};
  for (const v of allVertices(state.graph.vpc)) {
    if (v.kind === "nlbNode") nlbByIP[v.lines[1]] = v.host;
  }
  for (const [ip, n] of Object.entries(r.byNLBAddress || {})) badge(layout.byHost[nlbByIP[ip]], n);
  const nodeHost = {};
  for (const n of (state.objects ? state.objects.nodes : [])) nodeHost[n.nodeName] = n.name;
  for (const [node, n] of Object.entries(r.byNode || {})) badge(layout.byHost[nodeHost[node] || node], n);
  for (const [pod, n] of Object.entries(r.byPod || {})) badge(layout.byHost[pod], n);
}

function allVertices(g) {
  return [...g.vertices, ...g.groups.flatMap(allVertices)];
}

function renderSplit(byMode) {
  const box = document.getElementById("split");
  box.replaceChildren();
  for (const mode of ["ip", "instance"]) {
    const col = el("div", { "data-mode": mode }, el("h3", {}, mode + " mode"));
    const runs = byMode[mode] || {};
    if (runs.trace) {
      for (const req of runs.trace.trace.requests.slice(0, 3)) {
        col.append(el("div", { class: "path-row" }, el("span", { class: "id" }, "#" + req.id),
          (req.hops || []).map((h) => h.host + (h.nat ? " (" + h.nat.kind + ")" : "")).join(" → ")));
      }
      if (runs.trace.trace.requests.length > 3) col.append(el("div", { class: "muted" }, `… ${runs.trace.trace.requests.length} requests traced at ${new Date(runs.trace.time).toLocaleTimeString()}`));
    }
    if (runs.traffic) {
      const d = el("div");
      renderDistribution(d, runs.traffic, false);
      col.append(el("div", { class: "muted" }, `${runs.traffic.traffic.requests} requests, ${runs.traffic.traffic.errors} errors, pods saw ` +
        Object.keys(runs.traffic.traffic.bySourceSeen).join(", ")), d);
    }
    if (!runs.trace && !runs.traffic) col.append(el("div", { class: "muted" }, "no run in this mode yet"));
    box.append(col);
  }
}

// ---- tables ------------------------------------------------------------------------

function renderObjects() {
  const o = state.objects;
  if (!o) return;
  const app = o.deployments.find((d) => !d.addon);
  if (app && document.activeElement !== document.getElementById("replicas")) document.getElementById("replicas").value = app.replicas;
  const pods = document.getElementById("pods");
  pods.replaceChildren(el("tr", {}, el("th", {}, "pod"), el("th", {}, "state"), el("th", {}, "")));
  for (const p of o.pods.filter((p) => !app || p.owner === app.name)) {
    const s = p.terminating ? "Terminating" : p.phase !== "Running" ? p.phase : p.failing ? "failing (" + p.failing + ")" : p.ready ? "Ready" : "NotReady";
    const act = (action) => el("button", { "data-pod": p.name, "data-action": action, onclick: () => post("/api/pod", { name: p.name, action }, action + " pod " + p.name) }, action);
    pods.append(el("tr", { "data-pod": p.name }, el("td", { class: "name", title: `${p.name} ${p.ip} on ${p.node || "no node"}` }, p.name), el("td", {}, s),
      el("td", {}, act("delete"), act("fail"), act("recover"))));
  }
  const nodes = document.getElementById("nodes");
  nodes.replaceChildren(el("tr", {}, el("th", {}, "node"), el("th", {}, "AZ"), el("th", {}, "state"), el("th", {}, "")));
  for (const n of o.nodes) {
    const act = (action) => el("button", { "data-node": n.name, "data-action": action, onclick: () => post("/api/node", { name: n.name, action }, action + " node " + n.name) }, action);
    nodes.append(el("tr", { "data-node": n.name }, el("td", { class: "name", title: n.nodeName }, n.name + " " + n.ip), el("td", { title: n.az }, shortAZ(n.az)),
      el("td", {}, n.stopped ? "stopped" : n.notReady ? "NotReady" : "Ready"), el("td", {}, act("stop"), act("start"))));
  }
  if (!token) for (const b of document.querySelectorAll("#controls button")) b.disabled = true;
}

// shortAZ is an AZ's letter with its region's number: ap-northeast-2a → 2a.
const shortAZ = (az) => (az || "").replace(/^.*-/, "");

function renderTargets() {
  const t = document.getElementById("targets");
  t.replaceChildren(el("tr", {}, el("th", {}, "target"), el("th", {}, "AZ"), el("th", {}, "state"), el("th", {}, "reason")));
  for (const x of state.targets || []) {
    t.append(el("tr", { "data-target": x.ip + ":" + x.port, "data-state": x.state },
      el("td", { title: x.targetGroup }, x.ip + ":" + x.port), el("td", { title: x.az }, shortAZ(x.az)),
      el("td", { class: "state-" + (x.state || "").split(".")[0] }, x.state || "registered"),
      el("td", { class: "reason", title: x.description || "" }, x.reason || "")));
  }
}

let lastCounts = {};
function renderRules() {
  const box = document.getElementById("rules");
  box.replaceChildren();
  const counts = {};
  for (const n of state.rules || []) {
    const card = el("div", { "data-node": n.node }, el("h3", {}, n.node + " ", el("span", { class: "muted" }, n.proxyMode)));
    if (n.error) card.append(el("div", { class: "muted" }, n.error));
    for (const s of n.services) {
      const t = el("table", { class: "compact" },
        el("tr", {}, el("th", { colspan: 4 }, s.service + " · " + s.chain)),
        el("tr", {}, el("th", {}, "KUBE-SEP → endpoint"), el("th", {}, "probability"), el("th", {}, "share"), el("th", {}, "pkts")));
      for (const e of s.endpoints) {
        const key = n.node + e.chain;
        counts[key] = e.packets;
        const bumped = key in lastCounts && lastCounts[key] !== e.packets;
        t.append(el("tr", { "data-chain": e.chain, class: bumped ? "bumped" : "" }, el("td", { title: e.chain }, e.endpoint),
          el("td", {}, e.probability === 1 ? "(last)" : e.probability.toFixed(10)), el("td", {}, pct(e.share)), el("td", {}, e.packets)));
      }
      card.append(t);
    }
    box.append(card);
  }
  lastCounts = counts;
}

function renderEvents() {
  const box = document.getElementById("events");
  box.replaceChildren();
  for (const e of [...(state.events || [])].reverse().slice(0, 200)) {
    box.append(el("div", { class: "ev " + e.type }, el("span", {}, new Date(e.time).toLocaleTimeString()), el("span", {}, e.type),
      el("span", {}, e.reason), el("span", {}, e.object), el("span", {}, e.message)));
  }
}

wireControls();
connect();
