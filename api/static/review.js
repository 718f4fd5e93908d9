// The /review/{job_id} page: the transcript with every review flag marked, the kept audio played at a
// word or a segment, and the note corrected, signed and amended through /v1/jobs/{id}/document and
// /sign. The reasons' meanings are the page's own legend (written from ReviewReason by the API).
"use strict";
const KEY = "endoscribe-key";  // the same key /dictate and /quality keep
const AUTHOR = "endoscribe-author";  // who signs: not a secret, kept on the device
const $ = (id) => document.getElementById(id);
const JOB = decodeURIComponent(location.pathname.split("/").pop());
const API = `/v1/jobs/${encodeURIComponent(JOB)}`;
const PAD = 0.3;  // seconds of audio either side of a flagged stretch, to hear it in context
let headers = {}, reasons = {}, documentNow = null, stopAt = null, spoken = [];

class ApiError extends Error {
  constructor(status, error) {
    super(`${error.code}: ${error.message}`);
    this.status = status;
    this.code = error.code;
  }
}

function status(text) { $("status").textContent = text; }

function element(name, attributes = {}, text = null) {
  const node = document.createElement(name);
  for (const [attribute, value] of Object.entries(attributes)) node.setAttribute(attribute, value);
  if (text !== null) node.textContent = text;
  return node;
}

const clock = (seconds) => `${Math.floor(seconds / 60)}:${String(Math.floor(seconds % 60)).padStart(2, "0")}`;
const when = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
const bare = (token) => token.toLowerCase().replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "");
const tokensOf = (text) => text.split(/\s+/).filter(Boolean);

async function call(path, options = {}) {
  const response = await fetch(`${API}${path}`, { ...options, headers: { ...headers, ...(options.headers || {}) } });
  const data = await response.json();
  if (!response.ok) throw new ApiError(response.status, data.error);
  return data;
}

function post(path, body) {
  return call(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

function readLegend() {
  for (const term of document.querySelectorAll("#reasons dt")) {
    reasons[term.dataset.reason] = { label: term.textContent, meaning: term.nextElementSibling.textContent,
      doubt: term.dataset.doubt === "true" };
  }
}

function reasonOf(flag) {
  // A reason this page's legend does not know is still shown, as a doubt: nothing flagged is hidden.
  return reasons[flag.reason] || { label: flag.reason.replaceAll("_", " "), meaning: flag.reason, doubt: true };
}

// The segment's text as written (what version 1 of the note says), each token timed by the word the
// model spoke there: the longest common run of the two, and tokens the formatting changed ("mm" for
// "millimeter") share the time between their timed neighbours.
function timedTokens(segment) {
  const tokens = tokensOf(segment.text).map((text) => ({ text, start: null, end: null }));
  const words = (segment.words || []).filter((w) => w.start !== null && w.end !== null);
  const n = tokens.length, m = words.length;
  const same = (i, j) => bare(tokens[i].text) === bare(words[j].word);
  const common = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      common[i][j] = same(i, j) ? common[i + 1][j + 1] + 1 : Math.max(common[i + 1][j], common[i][j + 1]);
    }
  }
  for (let i = 0, j = 0; i < n && j < m;) {
    if (same(i, j)) { tokens[i].start = words[j].start; tokens[i].end = words[j].end; i++; j++; }
    else if (common[i + 1][j] >= common[i][j + 1]) i++;
    else j++;
  }
  for (let k = 0; k < n;) {
    if (tokens[k].start !== null) { k++; continue; }
    let e = k;
    while (e < n && tokens[e].start === null) e++;
    const from = k > 0 ? tokens[k - 1].end : segment.start, to = e < n ? tokens[e].start : segment.end;
    const step = Math.max(0, to - from) / (e - k);
    for (let t = k; t < e; t++) { tokens[t].start = from + step * (t - k); tokens[t].end = from + step * (t - k + 1); }
    k = e;
  }
  return tokens;
}

// Which tokens a flag marks: the whole segment when it is about the segment; else its words where they
// stand (the occurrence nearest its time, or every one for a flag timed by the whole segment: a
// number said twice is checked twice); else the tokens under its time; else, never hidden, all of it.
function marked(flag, segment, tokens) {
  const all = tokens.map((_, i) => i);
  if (flag.text.trim() === segment.text.trim()) return [all];
  const want = tokensOf(flag.text).map(bare);
  const found = [];
  for (let i = 0; want.length && i + want.length <= tokens.length; i++) {
    if (want.every((w, k) => bare(tokens[i + k].text) === w)) found.push(all.slice(i, i + want.length));
  }
  const wholeTime = flag.start === segment.start && flag.end === segment.end;
  if (found.length && wholeTime) return found;
  if (found.length) {
    const distance = (run) => Math.abs(tokens[run[0]].start - flag.start);
    return [found.reduce((best, run) => (distance(run) < distance(best) ? run : best))];
  }
  const under = all.filter((i) => tokens[i].start <= flag.end + 0.01 && tokens[i].end >= flag.start - 0.01);
  return [under.length ? under : all];
}

function play(from, to = null) {
  const audio = $("audio");
  if (!audio.src) { status($("audio-note").textContent); return; }
  audio.currentTime = Math.max(0, from);
  stopAt = to;
  audio.play().catch((error) => status(`The audio did not play (${error.message}).`));
}

function follow() {
  const audio = $("audio"), now = audio.currentTime;
  if (stopAt !== null && now >= stopAt) { audio.pause(); stopAt = null; }
  for (const { node, start, end } of spoken) node.classList.toggle("playing", start <= now && now < end);
}

function word(token, index, flagged) {
  const node = element("span", { class: "w", "data-i": index, "data-start": token.start.toFixed(3),
    "data-end": token.end.toFixed(3) }, token.text);
  if (flagged.length) {
    const meaning = flagged.map(({ flag }) => `${reasonOf(flag).label}: ${reasonOf(flag).meaning}`).join("\n");
    node.dataset.flags = flagged.map(({ index: f }) => f).join(" ");
    node.dataset.meaning = meaning;
    node.title = meaning;
    node.setAttribute("aria-description", meaning);  // what a screen reader says after the words
    node.classList.toggle("doubt", flagged.some(({ flag }) => reasonOf(flag).doubt));
    node.classList.toggle("check", flagged.some(({ flag }) => !reasonOf(flag).doubt));
    if (flagged.some(({ first }) => first)) node.tabIndex = 0;  // one stop per flagged stretch
    // The meaning opens towards the middle of the page, so a word at the right edge keeps it on screen.
    node.onfocus = node.onmouseenter = () =>
      node.classList.toggle("flip", node.getBoundingClientRect().left > document.documentElement.clientWidth / 2);
  }
  node.onclick = () => play(token.start);
  node.onkeydown = (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); play(token.start); }
  };
  spoken.push({ node, start: token.start, end: token.end });
  return node;
}

// The transcript, segment by segment, and the list of every flag (in the result's order).
function transcript(result) {
  const flags = result.review || [];
  const bySegment = result.segments.map(() => []);
  const runs = flags.map(() => []);
  flags.forEach((flag, f) => { if (bySegment[flag.segment]) bySegment[flag.segment].push(f); });
  spoken = [];
  const paragraphs = result.segments.map((segment, s) => {
    const tokens = timedTokens(segment);
    const covering = tokens.map(() => []);
    for (const f of bySegment[s]) {
      for (const run of marked(flags[f], segment, tokens)) {
        runs[f].push(run.map((i) => tokens[i]));
        run.forEach((i, k) => covering[i].push({ index: f, flag: flags[f], first: k === 0 }));
      }
    }
    const paragraph = element("p", { class: "segment", "data-segment": s });
    const at = element("button", { type: "button", class: "at", title: `play this segment (${clock(segment.start)} to ${clock(segment.end)})` },
      clock(segment.start));
    at.onclick = () => play(segment.start, segment.end);
    paragraph.append(at, " ");
    tokens.forEach((token, i) => paragraph.append(word(token, i, covering[i]), " "));
    return paragraph;
  });
  $("transcript").replaceChildren(...paragraphs);
  $("flag-count").textContent = result.review === undefined || result.review === null
    ? "no flags were computed for this job (transcribed before review flags): check all of it"
    : flags.length ? `${flags.length} flagged` : "nothing flagged";
  $("flags").replaceChildren(...flags.map((flag, f) => flagItem(flag, f, runs[f])));
}

function flagItem(flag, f, runs) {
  const reason = reasonOf(flag);
  const heard = runs.flat();
  const from = heard.length ? Math.min(...heard.map((t) => t.start)) - PAD : flag.start;
  const to = heard.length ? Math.max(...heard.map((t) => t.end)) + PAD : flag.end;
  const item = element("li", { class: reason.doubt ? "doubt" : "check", "data-flag": f, "data-reason": flag.reason,
    "data-segment": flag.segment, "data-start": flag.start, "data-end": flag.end, "data-text": flag.text });
  if (flag.value !== null && flag.value !== undefined) item.dataset.value = flag.value;
  const button = element("button", { type: "button", title: reason.meaning },
    `${clock(Math.max(0, from))} ${reason.label}`);
  button.onclick = () => play(from, to);
  const value = flag.value !== null && flag.value !== undefined ? ` (${flag.value})` : "";
  item.append(button, " ", element("q", {}, flag.text), element("span", { class: "meaning" }, ` ${reason.meaning}${value}`));
  return item;
}

async function loadAudio(job) {
  const audio = $("audio"), note = $("audio-note");
  audio.hidden = true;
  if (audio.src) { URL.revokeObjectURL(audio.src); audio.removeAttribute("src"); }
  if (!job.options.keep_audio_seconds) {
    note.textContent = "No audio was kept for this job: it was deleted when the job ended, so there is " +
      "nothing to listen to. Check the text against your own record; submit with keep_audio_seconds to keep it.";
    document.body.dataset.audio = "none";
    return;
  }
  const response = await fetch(`${API}/audio`, { headers });
  if (!response.ok) {
    const data = await response.json();
    note.textContent = `No audio to listen to: ${data.error.message}.`;
    document.body.dataset.audio = data.error.code;
    return;
  }
  audio.src = URL.createObjectURL(await response.blob());
  audio.hidden = false;
  note.textContent = `The recording is kept for review for ${Math.round(job.options.keep_audio_seconds / 3600 * 10) / 10} h ` +
    "after the job ended, then erased.";
  await new Promise((resolve) => {
    if (audio.readyState >= 1) resolve();
    else { audio.onloadedmetadata = resolve; audio.onerror = resolve; }
  });
  document.body.dataset.audio = audio.readyState >= 1 ? "ready" : "unplayable";
}

function changes(version) {
  if (!version.diff.length) return version.version === 1 ? "the transcript" : "none";
  return version.diff.map((c) => (c.op === "insert" ? `+ “${c.added}”` : c.op === "delete" ? `− “${c.removed}”`
    : `“${c.removed}” → “${c.added}”`)).join("; ");
}

function showDocument(doc) {
  documentNow = doc;
  const signed = doc.versions.filter((v) => v.signature);
  const last = signed[signed.length - 1];
  $("doc-status").textContent = `(version ${doc.current.version}, ${doc.status})`;
  $("text").value = doc.current.text;
  $("reason").value = "";
  $("save").textContent = last ? "Save amendment" : "Save correction";
  $("sign").textContent = last ? "Signed" : "Sign";
  $("reason-label").textContent = last ? "Reason for the amendment (required)" : "Reason for the change (optional)";
  $("doc-help").textContent = last
    ? `Version ${last.version} was signed by ${last.signature.author || "this key"} on ${when(last.signature.at)}; ` +
      "it is never changed. Saving a change makes an amendment: a new version, signed as you save it, that " +
      "replaces it. Every version is kept."
    : "Correct the text, save, then sign: a signature makes the saved version final. Every version is kept.";
  edited();
  const rows = doc.versions.map((v) => {
    const tr = element("tr", { "data-version": v.version, "data-status": v.status });
    const signature = v.signature ? `${v.signature.author || "this key"}, ${when(v.signature.at)}` : "";
    for (const text of [String(v.version), v.kind, v.status, v.author || "this key", when(v.at), changes(v),
      v.reason || "", signature]) tr.insertCell().textContent = text;
    return tr;
  });
  $("versions").tBodies[0].replaceChildren(...rows.reverse());
  $("audit").replaceChildren(...doc.audit.map((e) => element("li", { "data-action": e.action, "data-version": e.version },
    `${when(e.at)}: ${e.action} version ${e.version} by ${e.author || "this key"} (key ${e.tenant.slice(0, 8)}…)` +
    (e.words_changed ? `, ${e.words_changed} word${e.words_changed === 1 ? "" : "s"} changed` : ""))));
  document.body.dataset.version = doc.current.version;
  document.body.dataset.docStatus = doc.status;
}

function edited() {
  const dirty = documentNow !== null && $("text").value !== documentNow.current.text;
  $("save").disabled = !dirty;
  $("sign").disabled = dirty || documentNow === null || documentNow.versions.some((v) => v.signature);
  $("sign").title = dirty ? "save your changes first: a signature is on the saved text" : "";
}

function author() {
  const name = $("author").value.trim();
  if (name) localStorage.setItem(AUTHOR, name);
  return name ? { author: name } : {};
}

async function act(work) {
  try {
    await work();
  } catch (error) {
    status(error instanceof ApiError ? error.message : `The API did not answer (${error}); try again.`);
  }
}

async function save() {
  const signed = documentNow.versions.some((v) => v.signature);
  const reason = $("reason").value.trim();
  if (signed && !reason) {
    status("Say why you amend a signed note: the reason is kept with the amendment.");
    $("reason").focus();
    return;
  }
  await act(async () => {
    const version = await post("/document", { text: $("text").value, base_version: documentNow.current.version,
      ...author(), ...(reason ? { reason } : {}) });
    showDocument(await call("/document"));
    status(`Saved version ${version.version} (${version.kind}, ${version.status}).`);
  });
}

async function sign() {
  await act(async () => {
    const version = await post("/sign", { base_version: documentNow.current.version, ...author() });
    showDocument(await call("/document"));
    status(`Signed version ${version.version}: the note is ${version.status}.`);
  });
}

function keep(key) {
  sessionStorage.setItem(KEY, key);
  if ($("remember").checked) localStorage.setItem(KEY, key);
  else localStorage.removeItem(KEY);
}

async function openNote(event) {
  if (event) event.preventDefault();  // never a form submission: the page's CSP allows none
  headers = {};
  const key = $("key").value.trim();
  if (key) { headers.Authorization = `Bearer ${key}`; keep(key); }
  $("review").hidden = true;
  delete document.body.dataset.loaded;
  status("Loading…");
  try {
    const job = await call("");
    const result = await call("/result?format=json");
    const doc = await call("/document");
    transcript(result);
    showDocument(doc);
    $("review").hidden = false;
    await loadAudio(job);
    const flags = (result.review || []).length;
    status(`Job ${JOB}: ${flags} flag${flags === 1 ? "" : "s"} to check; the note is ${doc.status}.`);
    document.body.dataset.loaded = JOB;
  } catch (error) {
    $("review").hidden = true;
    $("transcript").replaceChildren();
    $("flags").replaceChildren();
    status(error instanceof ApiError ? error.message : `The API did not answer (${error}); try again.`);
  }
}

function start() {
  readLegend();
  $("job").textContent = JOB;
  $("remember").checked = localStorage.getItem(KEY) !== null;
  $("key").value = sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || "";
  $("author").value = localStorage.getItem(AUTHOR) || "";
  $("remember").onchange = () => { if (!$("remember").checked) localStorage.removeItem(KEY); };
  $("open").onsubmit = openNote;
  $("text").oninput = edited;
  $("text").onkeydown = (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !$("save").disabled) { event.preventDefault(); save(); }
  };
  $("save").onclick = save;
  $("sign").onclick = sign;
  $("audio").ontimeupdate = follow;
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { $("audio").pause(); stopAt = null; }
  });
}

start();
