// The /dictate page: the microphone at 16 kHz, 200 ms s16le chunks over the session's WebSocket,
// partial text in grey, final text in black, joined as sentences. With a note type, commands act on
// the text: each final names its block (`segment`) and a block a command changed comes again with a
// higher `revision`, so the page redraws it (what was scratched stays struck through; a template is
// shaded, the field dictation fills next highlighted). When the session ends the page shows the job's note, the authoritative text, with a link.
// The buttons (and their Alt+key shortcuts) send the spoken commands as messages, `{"type": "command",
// "name"}`, after the audio recorded so far: the worker applies them at that point of the dictation.
// Served as a file: the page's CSP runs no inline script.
"use strict";
const CHUNK = 3200;  // 200 ms at 16 kHz
const KEY = "endoscribe-key";
const $ = (id) => document.getElementById(id);
let ws = null, context = null, stream = null, pending = [], pendingLength = 0, headers = {};
let blocks = new Map();  // segment -> {text, kind, struck}

// One list: each button, its key (with Alt; Shift where it says so) and the command it sends.
const CONTROLS = [
  { name: "scratch_that", label: "Scratch that", code: "KeyS", key: "S" },
  { name: "undo", label: "Undo that", code: "KeyU", key: "U" },
  { name: "delete_last_word", label: "Delete last word", code: "KeyW", key: "W" },
  { name: "delete_last_sentence", label: "Delete last sentence", code: "KeyW", shift: true, key: "Shift+W" },
  { name: "new_line", label: "New line", code: "Enter", key: "Enter" },
  { name: "new_paragraph", label: "New paragraph", code: "Enter", shift: true, key: "Shift+Enter" },
  { name: "previous_field", label: "Previous field", code: "KeyP", key: "P" },
  { name: "next_field", label: "Next field", code: "KeyN", key: "N" },
  { name: "accept_defaults", label: "Accept defaults", code: "KeyA", key: "A" },
  { name: "insert_template", label: "Insert", code: "KeyI", key: "I" },
  { name: "stop_dictation", label: "Stop dictation", code: "KeyQ", key: "Q" },
];

function status(text) { $("status").textContent = text; }

function final(event) {
  const old = blocks.get(event.segment);
  if (event.revision !== undefined && !event.text && old && old.text) {
    blocks.set(event.segment, { text: old.text, kind: old.kind, struck: true });  // scratched: shown struck
  } else {
    blocks.set(event.segment, { text: event.text, kind: event.kind || "dictated", struck: false,
                                field: event.field || null });
  }
  draw();
}

// Finals joined as sentences: one that follows text without an end gets a full stop before it, and
// one that starts a sentence starts with a capital.
function draw() {
  const root = $("finals");
  root.replaceChildren();
  let last = null;  // the last text span drawn, and whether a sentence has ended since
  let ended = true;
  for (const [segment, block] of [...blocks.entries()].sort((a, b) => a[0] - b[0])) {
    if (block.kind === "paragraph" || block.kind === "line") {
      root.append(document.createElement("br"));
      if (block.kind === "paragraph") root.append(document.createElement("br"));
      ended = true; last = null;
      continue;
    }
    if (!block.text) continue;
    const span = document.createElement("span");
    let text = block.text;
    if (block.struck) span.className = "struck";
    else {
      if (last && !/[.?!:;,]$/.test(last.textContent)) { last.textContent += "."; ended = true; }
      if (ended) text = text.charAt(0).toUpperCase() + text.slice(1);
      if (block.kind === "template") span.className = "template";
    }
    span.dataset.segment = String(segment);
    const space = root.childNodes.length && root.lastChild.nodeName !== "BR" ? " " : "";
    if (block.field && !block.struck) {  // the template's field dictation fills next, highlighted
      const mark = document.createElement("mark");
      mark.textContent = text.slice(block.field.start, block.field.end);
      span.append(space + text.slice(0, block.field.start), mark, text.slice(block.field.end));
    } else span.textContent = space + text;
    root.append(span);
    if (!block.struck) { last = span; ended = /[.?!]$/.test(text); }
  }
}

function command(event) {
  const item = document.createElement("li");
  const how = event.source === "client" ? "from the page" : `“${event.said}”`;
  item.textContent = event.applied ? `${event.name.replaceAll("_", " ")}: ${how}`
    : `${event.name.replaceAll("_", " ")} did not apply: ${event.reason}`;
  item.dataset.source = event.source || "speech";
  if (!event.applied) item.className = "refused";
  $("commands").append(item);
}

// The job's note, once its worker has transcribed the whole session.
async function result(jobId, url) {
  $("result-link").href = url;
  $("result").hidden = false;
  for (;;) {
    const job = await (await fetch(`/v1/jobs/${jobId}`, { headers })).json();
    if (job.status === "completed") break;
    if (job.status === "failed" || job.status === "cancelled" || job.error) {
      $("result-text").textContent = `The job ${job.status}: ${job.error ? job.error.message : ""}`;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const note = await (await fetch(`/v1/jobs/${jobId}/result?format=json`, { headers })).json();
  $("result-text").textContent = note.text;
  document.body.dataset.result = jobId;
  status(`Done: job ${jobId}.`);
}

function show(event) {
  if (event.type === "partial") $("partial").textContent = event.text;
  else if (event.type === "final") { final(event); $("partial").textContent = ""; }
  else if (event.type === "command") command(event);
  else if (event.type === "lagging") status(`The transcription is ${event.delay} s behind.`);
  else if (event.type === "error") status(`${event.code}: ${event.message}`);
  else if (event.type === "ended") {
    status(`Ended. The whole dictation is job ${event.job_id}; transcribing it…`);
    document.body.dataset.ended = event.job_id;
    result(event.job_id, event.result_url);
  }
}

function send(samples) {
  pending.push(samples); pendingLength += samples.length;
  if (pendingLength >= CHUNK) flush();
}

// What the microphone gave since the last chunk, sent now (a command goes after the audio before it).
function flush() {
  if (pendingLength < 320) return;  // under 20 ms is no chunk: it waits for the next one
  const pcm = new Int16Array(pendingLength);
  let at = 0;
  for (const block of pending) {
    for (let i = 0; i < block.length; i++) {
      const s = Math.max(-1, Math.min(1, block[i]));
      pcm[at++] = s < 0 ? s * 0x8000 : s * 0x7fff;
    }
  }
  pending = []; pendingLength = 0;
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(pcm.buffer);
}

// The key lives in this tab's sessionStorage (gone when the tab closes), and in localStorage only
// when the user ticks "remember"; unticking forgets it there.
function keep(key) {
  sessionStorage.setItem(KEY, key);
  if ($("remember").checked) localStorage.setItem(KEY, key);
  else localStorage.removeItem(KEY);
}

async function start() {
  $("start").disabled = true;
  $("finals").textContent = ""; $("partial").textContent = "";
  $("commands").replaceChildren(); $("result").hidden = true; $("result-text").textContent = "";
  blocks = new Map();
  headers = {};
  const key = $("key").value.trim();
  if (key) { headers.Authorization = `Bearer ${key}`; keep(key); }
  await templates();
  const options = {};
  if ($("hotwords").value.trim()) options.hotwords = $("hotwords").value.trim();
  if ($("note_type").value) options.note_type = $("note_type").value;
  const response = await fetch("/v1/sessions", {
    method: "POST", headers: { ...headers, "Content-Type": "application/json" }, body: JSON.stringify(options) });
  const session = await response.json();
  if (!response.ok) { status(`${session.error.code}: ${session.error.message}`); $("start").disabled = false; return; }
  ws = new WebSocket(session.stream_url);
  ws.binaryType = "arraybuffer";
  ws.onmessage = (message) => show(JSON.parse(message.data));
  ws.onclose = () => { $("start").disabled = false; $("stop").disabled = true; controls(false); };
  await new Promise((resolve) => ws.addEventListener("open", resolve, { once: true }));
  stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1 } });
  // The browser resamples the microphone to the context's 16 kHz.
  context = new AudioContext({ sampleRate: 16000 });
  await context.audioWorklet.addModule("/dictate-worklet.js");
  const tap = new AudioWorkletNode(context, "pcm-tap");
  tap.port.onmessage = (message) => send(message.data);
  context.createMediaStreamSource(stream).connect(tap);
  $("stop").disabled = false;
  controls(Boolean(options.note_type));  // commands need a note type (dictation formatting)
  status("Listening…");
}

// A button or its key: the command, after the audio recorded so far.
function control(spec) {
  if (!ws || ws.readyState !== WebSocket.OPEN || $("controls").dataset.live !== "yes") return;
  const message = { type: "command", name: spec.name };
  if (spec.name === "insert_template") {
    if (!$("template").value) { status("No template to insert: POST one to /v1/templates."); return; }
    message.template = $("template").value;
  }
  flush();
  ws.send(JSON.stringify(message));
  if (spec.name === "stop_dictation") release();  // the worker ends the session where it came
}

function controls(live) {
  $("controls").dataset.live = live ? "yes" : "no";
  for (const button of document.querySelectorAll("#controls button")) button.disabled = !live;
}

// The templates the key may insert, for the picker (none when they cannot be listed: dictation goes on).
async function templates() {
  let found = [];
  try {
    const response = await fetch("/v1/templates", { headers });
    if (response.ok) found = (await response.json()).templates;
  } catch (error) { found = []; }
  $("template").replaceChildren(...found.map((t) => new Option(t.triggers[0], t.name)));
}

async function release() {
  $("stop").disabled = true;
  controls(false);
  if (stream) stream.getTracks().forEach((track) => track.stop());
  if (context && context.state !== "closed") await context.close();
}

async function stop() {
  await release();
  flush();
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "end" }));
  status("Finishing…");
}

$("remember").checked = localStorage.getItem(KEY) !== null;
$("key").value = sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || "";
$("remember").onchange = () => { if (!$("remember").checked) localStorage.removeItem(KEY); };
// The microphone starts on a click only: a link can't open it (there is no autostart parameter).
$("start").onclick = start;
$("stop").onclick = stop;
for (const spec of CONTROLS) {
  const button = document.createElement("button");
  button.type = "button"; button.dataset.command = spec.name; button.disabled = true;
  button.title = `${spec.label} (Alt+${spec.key})`;
  const kbd = document.createElement("kbd");
  kbd.textContent = `Alt+${spec.key}`;
  button.append(spec.label, kbd);
  button.onclick = () => control(spec);
  $(spec.name === "insert_template" ? "inserting" : "buttons").append(button);  // Insert: beside its picker
}
document.addEventListener("keydown", (event) => {
  if (!event.altKey || event.ctrlKey || event.metaKey) return;
  const spec = CONTROLS.find((c) => c.code === event.code && Boolean(c.shift) === event.shiftKey);
  if (!spec) return;
  event.preventDefault();
  control(spec);
});
