// One dictation's connection to /ws/transcribe (docs/protocol.md), kept alive across drops.
//
// Audio not yet covered by a `final` stays in a replay buffer. When the socket drops,
// the segment being spoken had no final yet, so after reconnecting the buffer is sent
// again (then live audio carries on): nothing said is lost and finals already shown stay.
import { diagnoseRefusedSocket, socketUrl } from "./api.js";
import { TARGET_RATE } from "./mic.js";

const MAX_REPLAY_SECONDS = 60; // a segment is at most 30 s, so this always covers the open one
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];
const FINISH_ATTEMPTS = 4; // reconnects tried after Stop before giving up on the last words
const MAX_REFUSALS = 3;
const FATAL_CODES = new Set(["invalid_config", "unknown_model", "model_unavailable"]);

export class LiveStream {
  constructor({ model, onReady, onPartial, onFinal, onStatus, onFatal, onDone }) {
    this.model = model;
    Object.assign(this, { onReady, onPartial, onFinal, onStatus, onFatal, onDone });
    this.chunks = []; // [{data: ArrayBuffer, start: sample}] not yet covered by a final
    this.totalSamples = 0;
    this.base = 0; // sample at which the current connection's audio starts
    this.socket = null;
    this.configured = false;
    this.finishing = false;
    this.stopped = false;
    this.attempt = 0;
    this.refusals = 0;
    this.everReady = false;
  }

  start() {
    this._connect();
  }

  sendAudio(data) {
    this.chunks.push({ data, start: this.totalSamples });
    this.totalSamples += data.byteLength / 2;
    let buffered = this.totalSamples - this.chunks[0].start;
    while (buffered > MAX_REPLAY_SECONDS * TARGET_RATE && this.chunks.length > 1) {
      this.chunks.shift(); // only while the server is unreachable for a long time
      buffered = this.totalSamples - this.chunks[0].start;
    }
    if (this.configured) this.socket.send(data);
  }

  /** No more audio: ask for the last finals and `done` (reconnecting first if needed). */
  finish() {
    this.finishing = true;
    if (this.configured) {
      this.socket.send(JSON.stringify({ type: "eof" }));
    } else if (this.timer) {
      clearTimeout(this.timer);
      this._connect();
    }
  }

  /** Give up at once (the page's own fatal errors); nothing more is reported. */
  abort() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close();
  }

  /** Seconds where the audio without a final begins (for a partial kept after giving up). */
  get pendingStart() {
    return (this.chunks.length ? this.chunks[0].start : this.totalSamples) / TARGET_RATE;
  }

  _connect() {
    this.timer = null;
    const socket = new WebSocket(socketUrl("/ws/transcribe"));
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    const state = { opened: false, fatal: null, busy: false, done: false };
    socket.onopen = () => this._opened(socket, state);
    socket.onmessage = (event) => this._message(JSON.parse(event.data), state);
    socket.onclose = () => this._closed(state);
  }

  _opened(socket, state) {
    state.opened = true;
    this.base = this.chunks.length ? this.chunks[0].start : this.totalSamples;
    const config = { type: "config", sample_rate: TARGET_RATE, format: "s16le" };
    if (this.model) config.model = this.model;
    socket.send(JSON.stringify(config));
    for (const chunk of this.chunks) socket.send(chunk.data); // replay what has no final yet
    this.configured = true;
    if (this.finishing) socket.send(JSON.stringify({ type: "eof" }));
  }

  _message(message, state) {
    switch (message.type) {
      case "ready":
        this.attempt = 0;
        this.refusals = 0;
        this.onReady({ reconnected: this.everReady, model: message.model });
        this.everReady = true;
        break;
      case "partial":
        this.onPartial(message.text);
        break;
      case "final":
        this._final(message);
        break;
      case "error":
        if (FATAL_CODES.has(message.code)) state.fatal = message;
        else if (message.code === "busy") state.busy = true;
        else console.warn("stream:", message.code, message.message);
        break;
      case "done":
        state.done = true;
        break;
    }
  }

  _final(message) {
    const offset = this.base / TARGET_RATE;
    const end = this.base + Math.round(message.end * TARGET_RATE);
    while (this.chunks.length && this.chunks[0].start + this.chunks[0].data.byteLength / 2 <= end) {
      this.chunks.shift(); // transcribed for good: never replayed
    }
    this.onFinal({ text: message.text, start: offset + message.start, end: offset + message.end });
  }

  async _closed(state) {
    this.socket = null;
    this.configured = false;
    if (this.stopped) return;
    if (state.done && this.finishing) return this.onDone({ complete: true });
    // `done` without our eof: the server is shutting down and sent its finals first; carry on elsewhere.
    if (state.done) return this._retry(false);
    if (state.fatal) return this.onFatal(state.fatal.message);
    if (!state.opened) {
      const verdict = await diagnoseRefusedSocket();
      if (this.stopped) return;
      if (verdict === "retry") return this._connect();
      if (verdict === "unauthorized") return this.onFatal("Live dictation needs the server's access token.");
      if (verdict === "reachable" && ++this.refusals >= MAX_REFUSALS) {
        return this.onFatal(
          "The server refused the live connection. If it is behind a proxy, " +
            "make sure the proxy forwards WebSockets.",
        );
      }
    }
    this._retry(state.busy);
  }

  _retry(busy) {
    if (this.finishing && this.attempt >= FINISH_ATTEMPTS) return this.onDone({ complete: false });
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    const wait = `${(delay / 1000).toFixed(delay < 1000 ? 1 : 0)} s`;
    this.onStatus(
      busy
        ? `The server is busy with other streams; trying again in ${wait}…`
        : `Connection lost; reconnecting in ${wait}… Your words so far are kept.`,
      "warning",
    );
    this.timer = setTimeout(() => this._connect(), delay);
  }
}
