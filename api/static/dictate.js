// The /dictate page: the microphone at 16 kHz, 200 ms s16le chunks over the session's WebSocket,
// partial text in grey, final text in black. Served as a file: the page's CSP runs no inline script.
"use strict";
const CHUNK = 3200;  // 200 ms at 16 kHz
const KEY = "endoscribe-key";
const $ = (id) => document.getElementById(id);
let ws = null, context = null, stream = null, pending = [], pendingLength = 0;

function status(text) { $("status").textContent = text; }

function show(event) {
  if (event.type === "partial") $("partial").textContent = event.text;
  else if (event.type === "final") {
    $("finals").textContent += ($("finals").textContent ? " " : "") + event.text;
    $("partial").textContent = "";
  } else if (event.type === "lagging") status(`The transcription is ${event.delay} s behind.`);
  else if (event.type === "error") status(`${event.code}: ${event.message}`);
  else if (event.type === "ended") {
    status(`Ended. The whole dictation is job ${event.job_id}: ${event.result_url}`);
    document.body.dataset.ended = event.job_id;
  }
}

function send(samples) {
  pending.push(samples); pendingLength += samples.length;
  if (pendingLength < CHUNK) return;
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
  const headers = { "Content-Type": "application/json" };
  const key = $("key").value.trim();
  if (key) { headers.Authorization = `Bearer ${key}`; keep(key); }
  const options = {};
  if ($("hotwords").value.trim()) options.hotwords = $("hotwords").value.trim();
  const response = await fetch("/v1/sessions", { method: "POST", headers, body: JSON.stringify(options) });
  const session = await response.json();
  if (!response.ok) { status(`${session.error.code}: ${session.error.message}`); $("start").disabled = false; return; }
  ws = new WebSocket(session.stream_url);
  ws.binaryType = "arraybuffer";
  ws.onmessage = (message) => show(JSON.parse(message.data));
  ws.onclose = () => { $("start").disabled = false; $("stop").disabled = true; };
  await new Promise((resolve) => ws.addEventListener("open", resolve, { once: true }));
  stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1 } });
  // The browser resamples the microphone to the context's 16 kHz.
  context = new AudioContext({ sampleRate: 16000 });
  await context.audioWorklet.addModule("/dictate-worklet.js");
  const tap = new AudioWorkletNode(context, "pcm-tap");
  tap.port.onmessage = (message) => send(message.data);
  context.createMediaStreamSource(stream).connect(tap);
  $("stop").disabled = false;
  status("Listening…");
}

async function stop() {
  $("stop").disabled = true;
  if (stream) stream.getTracks().forEach((track) => track.stop());
  if (context) await context.close();
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "end" }));
  status("Finishing…");
}

$("remember").checked = localStorage.getItem(KEY) !== null;
$("key").value = sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || "";
$("remember").onchange = () => { if (!$("remember").checked) localStorage.removeItem(KEY); };
// The microphone starts on a click only: a link can't open it (there is no autostart parameter).
$("start").onclick = start;
$("stop").onclick = stop;
