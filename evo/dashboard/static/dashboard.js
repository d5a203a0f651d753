// evo dashboard: fills the page shells from the JSON API and redraws on a timer.
// Plain browser JavaScript, no library and nothing fetched from anywhere but this server.
"use strict";

const DATA = JSON.parse(document.getElementById("page-data").textContent);
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
const SVG_NS = "http://www.w3.org/2000/svg";

// -- small helpers ------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "html") node.innerHTML = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmt(x, digits = 4) {
  return x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toFixed(digits);
}

function table(headers, rows, attrs) {
  const head = el("tr", {}, ...headers.map((h) => el("th", { text: h })));
  const body = rows.map((cells) => el("tr", {}, ...cells.map((c) => (c instanceof Node && c.tagName === "TD" ? c : el("td", {}, c)))));
  return el("table", attrs || {}, el("thead", {}, head), el("tbody", {}, ...body));
}

// Put `node` in the place of the element `id` (or at the end of `parent` when there is none).
function replace(id, node, parent) {
  const old = document.getElementById(id);
  node.id = id;
  if (old) old.replaceWith(node);
  else parent.append(node);
  return node;
}

function section(id, title) {
  const main = document.getElementById("main");
  let box = document.getElementById(id);
  if (!box) {
    box = el("section", { id }, el("h2", { text: title }), el("div", { id: id + "-body" }));
    main.append(box);
  }
  return document.getElementById(id + "-body");
}

function say(text) {
  const message = document.getElementById("message");
  message.hidden = !text;
  message.textContent = text || "";
}

// An answer the page expects now and then (server stopped, unknown run): shown, not thrown.
class ApiError extends Error {}

async function getJson(path) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: "application/json" } });
  } catch (error) {
    throw new ApiError("the dashboard server does not answer (" + error.message + ")");
  }
  const body = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) throw new ApiError(body.detail || response.statusText);
  return body;
}

function poll(step, ms) {
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      await step();
      say("");
    } catch (error) {
      say("cannot read the dashboard's API: " + error.message);
      if (!(error instanceof ApiError)) throw error; // a bug of this page: reported as one
    } finally {
      busy = false;
    }
  };
  tick();
  return setInterval(tick, ms);
}

const runLink = (name) => el("a", { href: "/runs/" + encodeURIComponent(name), text: name });
const genomeLink = (hash, run, text) =>
  el("a", { href: "/genomes/" + encodeURIComponent(hash) + (run ? "?run=" + encodeURIComponent(run) : ""), text: text || hash.slice(0, 10) });
const statusBadge = (status) => el("span", { class: "status status-" + status, text: status });

// -- the line chart (inline SVG) -----------------------------------------------------------
// series: [{name, color, points: [[x, y], ...], dash}]; y may be null (not drawn).
function lineChart(series, options) {
  const width = 760, height = 300, left = 64, right = 150, top = 16, bottom = 40;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": options.label });
  const finite = series.flatMap((s) => s.points.filter((p) => p[1] !== null && Number.isFinite(p[1])));
  chart.dataset.points = String(series.length ? series[0].points.filter((p) => p[1] !== null).length : 0);
  if (!finite.length) {
    chart.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "empty" }, options.empty));
    return chart;
  }
  const xs = finite.map((p) => p[0]), ys = finite.map((p) => p[1]);
  const x0 = Math.min(...xs, 0), x1 = Math.max(...xs, x0 + 1);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.06; y0 -= pad; y1 += pad;
  const X = (x) => left + ((x - x0) / (x1 - x0)) * (width - left - right);
  const Y = (y) => top + (1 - (y - y0) / (y1 - y0)) * (height - top - bottom);
  const axes = svg("g", { class: "axes" });
  axes.append(svg("line", { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom }));
  axes.append(svg("line", { x1: left, y1: top, x2: left, y2: height - bottom }));
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    axes.append(svg("line", { x1: left, y1: Y(y), x2: width - right, y2: Y(y), class: "grid" }));
    axes.append(svg("text", { x: left - 6, y: Y(y) + 4, "text-anchor": "end" }, y.toFixed(3)));
  }
  const step = Math.max(1, Math.ceil((x1 - x0) / 10));
  for (let x = Math.ceil(x0); x <= x1; x += step) {
    axes.append(svg("text", { x: X(x), y: height - bottom + 16, "text-anchor": "middle" }, String(x)));
  }
  axes.append(svg("text", { x: (left + width - right) / 2, y: height - 6, "text-anchor": "middle" }, options.xLabel));
  axes.append(svg("text", { x: 14, y: (top + height - bottom) / 2, transform: `rotate(-90 14 ${(top + height - bottom) / 2})`, "text-anchor": "middle" }, options.yLabel));
  chart.append(axes);
  series.forEach((s, i) => {
    const color = s.color || COLORS[i % COLORS.length];
    const shown = s.points.filter((p) => p[1] !== null && Number.isFinite(p[1]));
    const group = svg("g", { class: "series", "data-name": s.name });
    if (s.flat) {
      group.append(svg("line", { x1: left, x2: width - right, y1: Y(s.flat), y2: Y(s.flat), stroke: color, "stroke-dasharray": "5 4" }));
    } else {
      group.append(svg("polyline", { points: shown.map((p) => `${X(p[0])},${Y(p[1])}`).join(" "), fill: "none", stroke: color, "stroke-width": 2, "stroke-dasharray": s.dash || "" }));
      for (const p of shown) {
        const dot = svg("circle", { cx: X(p[0]), cy: Y(p[1]), r: 3, fill: color, class: "point" });
        dot.append(svg("title", {}, `${s.name}, generation ${p[0]}: ${p[1].toFixed(4)}`));
        group.append(dot);
      }
    }
    const ly = top + 14 + i * 18;
    group.append(svg("line", { x1: width - right + 10, x2: width - right + 28, y1: ly - 4, y2: ly - 4, stroke: color, "stroke-width": 2, "stroke-dasharray": s.flat ? "5 4" : s.dash || "" }));
    group.append(svg("text", { x: width - right + 32, y: ly, class: "legend" }, s.name));
    chart.append(group);
  });
  return chart;
}

// -- the runs page -------------------------------------------------------------------------
function runsPage() {
  const box = section("runs", "Runs");
  const button = el("button", { id: "compare-button", type: "button", text: "compare selected runs" });
  const chosen = new Set();
  button.addEventListener("click", () => {
    if (chosen.size < 2) return say("select two or more runs to compare");
    location.href = "/compare?" + [...chosen].map((n) => "runs=" + encodeURIComponent(n)).join("&");
  });
  box.parentNode.append(button);
  poll(async () => {
    const runs = await getJson("/api/runs");
    const rows = runs.map((r) => {
      const pick = el("input", { type: "checkbox", "aria-label": "select " + r.name, checked: chosen.has(r.name) });
      pick.addEventListener("change", () => (pick.checked ? chosen.add(r.name) : chosen.delete(r.name)));
      const planned = r.generations_planned ? " / " + r.generations_planned : "";
      return [pick, runLink(r.name), statusBadge(r.status), el("span", { class: "generations", text: r.generations_done + planned }),
        fmt(r.best_fitness), r.tasks.join(", ") + (r.holdout_tasks.length ? " (held out: " + r.holdout_tasks.join(", ") + ")" : ""),
        r.updated_at.replace("T", " ").slice(0, 19)];
    });
    const shown = rows.length ? table(["", "run", "status", "generations", "best fitness", "tasks", "updated (UTC)"], rows)
      : el("p", { text: "No runs in this database yet: start one with evo run CONFIG --db ..." });
    replace("runs-table", shown, box);
  }, DATA.poll_ms);
}

// -- the run page --------------------------------------------------------------------------
function runPage() {
  const name = DATA.run, api = "/api/runs/" + encodeURIComponent(name);
  const head = section("progress", "Progress");
  head.append(el("p", { class: "facts" }, "status ", el("span", { id: "status" }), " · generations ",
    el("span", { id: "generations-done", text: "0" }), el("span", { id: "generations-planned" }),
    " · best fitness ", el("span", { id: "best-fitness", text: "–" }), " · tasks ", el("span", { id: "tasks" })));
  head.append(el("div", { id: "chart" }));
  section("ranking", "Ranked entries (training fitness F, higher is better)");
  section("paired", "Best genome against the fixed entries (paired by seed)");
  const generations = [];
  let shownDone = -1, reference = null;
  poll(async () => {
    const last = generations.length ? generations[generations.length - 1].index : -1;
    const run = await getJson(api + "?after=" + last);
    generations.push(...run.generations);
    replace("status", statusBadge(run.status));
    document.getElementById("generations-done").textContent = String(run.generations_done);
    document.getElementById("generations-planned").textContent = run.generations_planned ? " of " + run.generations_planned : "";
    document.getElementById("best-fitness").textContent = fmt(run.best_fitness);
    document.getElementById("tasks").textContent = run.tasks.join(", ");
    drawRunChart(generations, reference);
    if (run.generations_done !== shownDone) {
      shownDone = run.generations_done;
      reference = await drawRanking(name, api);
      drawRunChart(generations, reference);
      await drawPaired(api);
    }
  }, DATA.poll_ms);
}

function drawRunChart(generations, reference) {
  const series = [
    { name: "best", points: generations.map((g) => [g.index, g.best]) },
    { name: "mean", points: generations.map((g) => [g.index, g.mean]), dash: "3 3" },
  ];
  if (reference) series.push({ name: reference.name, flat: reference.fitness, points: [[0, reference.fitness]], color: "#777" });
  const chart = lineChart(series, { label: "fitness per generation", xLabel: "generation", yLabel: "fitness", empty: "no generation closed yet" });
  chart.id = "fitness-chart";
  document.getElementById("chart").replaceChildren(chart);
}

async function drawRanking(name, api) {
  const ranking = await getJson(api + "/ranking");
  const holdout = ranking.holdout_tasks.length > 0;
  const headers = ["rank", "entry", "F", ...ranking.tasks, ...(holdout ? ["held-out F"] : []), "complete", "canonical rule"];
  const rows = ranking.entries.map((e) => [e.rank,
    e.has_genome ? genomeLink(e.entry_key, name, e.name) : e.name, fmt(e.fitness),
    ...ranking.tasks.map((t) => fmt(e.per_task[t])), ...(holdout ? [fmt(e.holdout_fitness)] : []),
    e.complete ? "yes" : "partial", el("code", { text: e.rule || "(opaque: " + e.name + ")" })]);
  const body = document.getElementById("ranking-body");
  body.replaceChildren(rows.length ? table(headers, rows, { class: "ranking" }) : el("p", { text: "no entry scored yet" }));
  body.querySelectorAll("tbody tr").forEach((tr, i) => ranking.entries[i].is_fixed && tr.classList.add("fixed"));
  const fixed = ranking.entries.filter((e) => e.is_fixed && e.fitness !== null);
  return fixed.length ? { name: "best fixed: " + fixed[0].name, fitness: fixed[0].fitness } : null;
}

async function drawPaired(api) {
  const paired = await getJson(api + "/paired");
  const body = document.getElementById("paired-body");
  if (!paired.comparisons.length) return body.replaceChildren(el("p", { text: "no evolved genome and fixed entry scored yet" }));
  const rows = [];
  for (const v of paired.comparisons) {
    for (const [split, stats] of [["training", v.training], ["held-out", v.holdout || {}]]) {
      for (const s of Object.values(stats)) {
        rows.push([v.baseline, split, s.task, s.n, fmt(s.mean_diff), `[${fmt(s.ci_low)}, ${fmt(s.ci_high)}]`, `${s.wins}/${s.ties}/${s.losses}`, fmt(s.sign_p, 3)]);
      }
    }
  }
  body.replaceChildren(el("ul", {}, ...paired.comparisons.map((v) => el("li", { text: v.summary }))),
    table(["baseline", "split", "task", "seeds", "mean diff (best − baseline)", "95% CI", "W/T/L", "sign-test p"], rows, { class: "paired" }));
}

// -- the genome page -----------------------------------------------------------------------
async function genomePage() {
  const query = DATA.run ? "?run=" + encodeURIComponent(DATA.run) : "";
  let g;
  try {
    g = await getJson("/api/genomes/" + encodeURIComponent(DATA.genome) + query);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    return say(error.message);
  }
  section("rule", "Update rule").append(el("p", {}, el("code", { text: g.rule })),
    el("p", {}, "canonical: ", el("code", { text: g.canonical_rule })), el("div", { class: "maths", html: g.mathml }));
  const lineage = g.lineage.map((a) => [runLink(a.run), a.generation < 0 ? "fixed" : a.generation, a.slot, a.origin,
    el("span", {}, ...a.parents.flatMap((p, i) => [i ? ", " : "", genomeLink(p, a.run)]))]);
  section("lineage", "Lineage").append(lineage.length ? table(["run", "generation", "slot", "origin", "parents"], lineage) : el("p", { text: "in no population" }));
  const scores = (title, id, byTask) => {
    const rows = Object.entries(byTask).map(([task, s]) => [task, fmt(s.fitness), Object.entries(s.seeds).map(([seed, v]) => `${seed}: ${fmt(v)}`).join(", ")]);
    if (rows.length) section(id, title).append(table(["task", "fitness (mean over seeds)", "per seed"], rows));
  };
  scores("Per-task fitness" + (g.run ? " in run " + g.run : ""), "scores", g.scores);
  scores("Held-out fitness" + (g.run ? " in run " + g.run : ""), "holdout-scores", g.holdout_scores);
  if (g.export_command) section("export", "Export as a standalone torch.optim.Optimizer").append(el("pre", {}, el("code", { id: "export-command", text: g.export_command })));
  section("json", "Genome (seed JSON)").append(el("pre", {}, el("code", { text: JSON.stringify(g.json, null, 2) })));
}

// -- the comparison page -------------------------------------------------------------------
function comparePage() {
  const query = DATA.runs.map((n) => "runs=" + encodeURIComponent(n)).join("&");
  section("compare-chart", "Best fitness per generation");
  section("compare-table", "Final best genome per run");
  poll(async () => {
    const data = await getJson("/api/compare?" + query);
    const series = data.runs.map((r) => ({ name: r.name, points: r.best_per_generation.map((y, i) => [i, y]) }));
    document.getElementById("compare-chart-body").replaceChildren(lineChart(series, { label: "best fitness per generation", xLabel: "generation", yLabel: "best fitness", empty: "no generation closed yet" }));
    const rows = data.runs.map((r) => [runLink(r.name), statusBadge(r.status), r.generations_done, r.seed,
      r.outcome.genome ? genomeLink(r.outcome.genome, r.name) : "–", fmt(r.outcome.training), fmt(r.outcome.holdout)]);
    const t = data.spread.training, h = data.spread.holdout;
    rows.push([el("strong", { text: "spread" }), "", "", "", `n = ${t.n}`, `${fmt(t.mean)} ± ${fmt(t.std)} [${fmt(t.min)}, ${fmt(t.max)}]`,
      h.n ? `${fmt(h.mean)} ± ${fmt(h.std)}` : "–"]);
    document.getElementById("compare-table-body").replaceChildren(table(["run", "status", "generations", "GA seed", "best genome", "training F", "held-out F"], rows));
  }, DATA.poll_ms);
}

({ runs: runsPage, run: runPage, genome: genomePage, compare: comparePage })[DATA.page]();
