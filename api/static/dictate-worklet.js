// Runs on the audio thread: hands each 128-sample block to the page (/dictate.js).
// A file of its own: the page's CSP allows scripts from the API alone, not from blob: URLs.
registerProcessor("pcm-tap", class extends AudioWorkletProcessor {
  process(inputs) { if (inputs[0][0]) this.port.postMessage(inputs[0][0].slice(0)); return true; }
});
