// The /quality page: GET /v1/quality (with bucket=week|month) for the chosen window, drawn as SVG by
// this file. No chart library: a few lines, points and bars need none, and the page loads nothing
// but its own two files under its CSP. Every drawn figure carries its value in data-* attributes.
"use strict";
const KEY = "endoscribe-key";  // the same key /dictate keeps
const NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

// Measure, name, definition (numerator over denominator), as the quality report counts them.
const RATES = [
  ["cecal_intubation", "Cecal intubation", "notes stating the cecum or ileum reached / notes stating the extent either way"],
  ["withdrawal.at_least_6_minutes", "Withdrawal ≥ 6 minutes", "notes with a withdrawal time ≥ 6 min / notes stating one"],
  ["adequate_preparation", "Adequate preparation", "BBPS ≥ 2 in every segment / notes stating all three segment scores"],
  ["polyp_detection", "Polyp detection", "notes with ≥ 1 polyp / notes stating polyps or their absence"],
  ["screening_polyp_detection", "Polyp detection, screening", "the same, screening notes only"],
  ["complications", "Complications", "notes stating a complication / notes stating one or none"],
];
const MINUTES = [
  ["withdrawal.mean_minutes", "Withdrawal time, mean"],
  ["withdrawal.median_minutes", "Withdrawal time, median"],
];
const FIELDS = {
  indication: "Indication", cecum_reached: "Extent (cecum reached)", bbps: "BBPS, all three segments",
  withdrawal_minutes: "Withdrawal time", polyps: "Polyps or their absence", complications: "Complications",
  follow_up: "Follow-up interval",
};
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const at = (report, path) => path.split(".").reduce((value, part) => value[part], report);
const percent = (rate) => (rate === null ? "—" : `${(rate * 100).toFixed(1)} %`);
const minutes = (value) => (value === null ? "—" : `${value.toFixed(1)} min`);
const iso = (day) => day.toISOString().slice(0, 10);

function status(text) { $("status").textContent = text; }

function element(name, attributes = {}, text = null) {
  const node = document.createElementNS(NS, name);
  for (const [attribute, value] of Object.entries(attributes)) node.setAttribute(attribute, value);
  if (text !== null) node.textContent = text;
  return node;
}

function periodLabel(period, bucket) {
  const [year, month, day] = period.start.split("-").map(Number);
  return bucket === "month" ? `${MONTHS[month - 1]} ${year}` : `${day} ${MONTHS[month - 1]}`;
}

// One trend: a point per period that has a value (a period whose notes state nothing has none, and
// breaks the line), the targets as dashed lines. `value` reads a period; `max` is the top of the axis.
function trend(measure, title, data, value, format, max, ticks) {
  const W = 560, H = 190, left = 48, right = 12, top = 26, bottom = 34;
  const svg = element("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", "data-measure": measure,
    "data-top": top, "data-bottom": H - bottom, "data-max": max, role: "img", "aria-label": title });
  svg.append(element("text", { x: left, y: 16, class: "title" }, title));
  const y = (v) => H - bottom - (v / max) * (H - bottom - top);
  const band = (W - left - right) / data.periods.length;
  const x = (i) => left + band * (i + 0.5);
  for (const tick of ticks) {
    svg.append(element("line", { x1: left, x2: W - right, y1: y(tick), y2: y(tick), class: "grid" }));
    svg.append(element("text", { x: left - 6, y: y(tick) + 4, class: "tick", "text-anchor": "end" },
      max === 1 ? `${tick * 100}%` : `${tick}`));
  }
  const every = Math.ceil(data.periods.length / 8);
  data.periods.forEach((period, i) => {
    if (i % every === 0) {
      svg.append(element("text", { x: x(i), y: H - bottom + 16, class: "tick", "text-anchor": "middle" },
        periodLabel(period, data.bucket)));
    }
  });
  // Two targets of one measure sit close (95 % and 90 %): the first's label above its line, the next's below.
  data.targets.filter((t) => t.measure === measure).forEach((target, i) => {
    svg.append(element("line", { x1: left, x2: W - right, y1: y(target.threshold), y2: y(target.threshold),
      class: "target", "data-threshold": target.threshold }));
    svg.append(element("text", { x: W - right, y: y(target.threshold) + (i === 0 ? -4 : 12), class: "target-label",
      "text-anchor": "end" }, target.label));
  });
  let run = [];
  const line = () => {
    if (run.length > 1) svg.append(element("polyline", { points: run.join(" "), class: "trend" }));
    run = [];
  };
  data.periods.forEach((period, i) => {
    const v = value(period);
    if (v === null) { line(); return; }
    run.push(`${x(i)},${y(v)}`);
    const point = element("circle", { cx: x(i), cy: y(v), r: 4, class: "point", "data-period": period.start,
      "data-value": v });
    point.append(element("title", {}, `${period.start} to ${period.end}: ${format(period)}`));
    svg.append(point);
  });
  line();
  return svg;
}

function counted(rate) { return `${rate.numerator} / ${rate.denominator}`; }

function row(measure, name, value, counts, targets, definition) {
  const tr = document.createElement("tr");
  tr.dataset.measure = measure;
  const cells = [name, value, counts, targets.map((t) => t.label).join("; ") || "—"];
  for (const text of cells) tr.insertCell().textContent = text;
  tr.cells[0].title = definition;
  return tr;
}

function table(data) {
  const body = $("measures").tBodies[0];
  body.replaceChildren(row("notes", "Notes", String(data.notes), "", [], "completed notes in the window"));
  for (const [measure, name, definition] of RATES) {
    const rate = at(data, measure);
    body.append(row(measure, name, percent(rate.rate), counted(rate),
      data.targets.filter((t) => t.measure === measure), definition));
  }
  for (const [measure, name] of MINUTES) {
    body.append(row(measure, name, minutes(at(data, measure)), `${data.withdrawal.count} notes`,
      data.targets.filter((t) => t.measure === measure), "over notes stating a withdrawal time"));
  }
}

function trends(data) {
  const charts = [];
  const most = Math.max(1, ...data.periods.map((p) => p.notes));
  charts.push(trend("notes", "Notes", data, (p) => p.notes, (p) => `${p.notes} notes`, most,
    [0, most]));
  for (const [measure, name] of RATES) {
    charts.push(trend(measure, name, data, (p) => at(p, measure).rate,
      (p) => `${percent(at(p, measure).rate)} (${counted(at(p, measure))})`, 1, [0, 0.25, 0.5, 0.75, 1]));
  }
  const longest = Math.max(10, ...data.periods.map((p) => p.withdrawal.mean_minutes || 0));
  const top = Math.ceil(longest / 5) * 5;
  charts.push(trend("withdrawal.mean_minutes", "Withdrawal time, mean (minutes)", data,
    (p) => p.withdrawal.mean_minutes, (p) => `${minutes(p.withdrawal.mean_minutes)} over ${p.withdrawal.count}`,
    top, Array.from({ length: top / 5 + 1 }, (_, i) => i * 5)));
  $("trends").replaceChildren(...charts);
}

// A bar per field: the share of the window's notes that stated it, on a track of all of them.
function completeness(data) {
  const fields = Object.keys(data.missing);
  const W = 560, left = 190, right = 110, barH = 18, gap = 8, H = fields.length * (barH + gap) + gap;
  const track = W - left - right;
  const svg = element("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", id: "completeness-bars",
    "data-track": track, role: "img", "aria-label": "Documentation completeness" });
  fields.forEach((field, i) => {
    const missing = data.missing[field], stated = data.notes - missing;
    const y = gap + i * (barH + gap);
    svg.append(element("text", { x: left - 8, y: y + 13, class: "tick", "text-anchor": "end" }, FIELDS[field] || field));
    svg.append(element("rect", { x: left, y, width: track, height: barH, class: "track" }));
    const bar = element("rect", { x: left, y, height: barH, class: "bar", "data-field": field,
      "data-missing": missing, "data-notes": data.notes, width: data.notes ? (track * stated) / data.notes : 0 });
    bar.append(element("title", {}, `${field}: stated in ${stated} of ${data.notes}, missing in ${missing}`));
    svg.append(bar);
    svg.append(element("text", { x: left + track + 8, y: y + 13, class: "tick count", "data-field": field },
      `${stated} of ${data.notes}`));
  });
  $("completeness").replaceChildren(svg);
}

function sources(data) {
  const cited = [...new Set(data.targets.map((t) => t.source))];
  $("sources").replaceChildren(...cited.map((source) => {
    const item = document.createElement("li");
    item.textContent = source;
    return item;
  }));
}

function keep(key) {
  sessionStorage.setItem(KEY, key);
  if ($("remember").checked) localStorage.setItem(KEY, key);
  else localStorage.removeItem(KEY);
}

function query(format) {
  const params = new URLSearchParams({ from: $("from").value, to: $("to").value, bucket: $("bucket").value });
  if ($("note_type").value) params.set("note_type", $("note_type").value);
  if (format) params.set("format", format);
  return params;
}

async function show(event) {
  if (event) event.preventDefault();  // never a form submission: the page's CSP allows none
  const headers = {};
  const key = $("key").value.trim();
  if (key) { headers.Authorization = `Bearer ${key}`; keep(key); }
  status("Loading…");
  delete document.body.dataset.shown;
  let response, data;
  try {
    response = await fetch(`/v1/quality?${query()}`, { headers });
    data = await response.json();
  } catch (error) {
    status(`The API did not answer (${error}); try again.`);
    return;
  }
  if (!response.ok) {
    $("report").hidden = true;
    $("csv").hidden = true;
    status(`${data.error.code}: ${data.error.message}`);
    return;
  }
  history.replaceState(null, "", `?${query()}`);
  $("window").textContent = `${data.start} to ${data.end}, ${data.note_type || "colonoscopy and sigmoidoscopy"}`;
  table(data);
  trends(data);
  completeness(data);
  sources(data);
  $("report").hidden = false;
  await csv(headers);
  status(`${data.notes} notes.`);
  document.body.dataset.shown = query().toString();
}

// The download link holds the window's CSV, fetched with the key (a plain link could not send it).
async function csv(headers) {
  const response = await fetch(`/v1/quality?${query("csv")}`, { headers });
  const link = $("csv");
  if (!response.ok) { link.hidden = true; return; }
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(await response.blob());
  link.download = `quality-${$("from").value}-${$("to").value}.csv`;
  link.hidden = false;
}

function start() {
  const given = new URLSearchParams(location.search);
  const today = new Date();
  $("to").value = given.get("to") || iso(today);
  $("from").value = given.get("from") || iso(new Date(today.getTime() - 83 * 86400000));  // 12 weeks
  $("note_type").value = given.get("note_type") || "";
  $("bucket").value = given.get("bucket") === "month" ? "month" : "week";
  $("remember").checked = localStorage.getItem(KEY) !== null;
  $("key").value = sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || "";
  $("remember").onchange = () => { if (!$("remember").checked) localStorage.removeItem(KEY); };
  $("query").onsubmit = show;
}

start();
