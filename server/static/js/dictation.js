// The live dictation panel: start/stop button, level meter, messages and the transcript.
import { LiveStream } from "./live-stream.js";
import { startMic } from "./mic.js";
import { TranscriptView } from "./transcript-view.js";

const LABELS = {
  idle: "Start dictation",
  starting: "Starting…",
  listening: "Stop dictation",
  stopping: "Finishing…",
};

export class DictationPanel {
  constructor({ root, modelSelect }) {
    this.root = root;
    this.modelSelect = modelSelect;
    this.button = root.querySelector("#dictate");
    this.label = this.button.querySelector(".label");
    this.meter = root.querySelector(".level");
    this.fill = root.querySelector(".level-fill");
    this.status = root.querySelector("#dictation-status");
    this.error = root.querySelector("#dictation-error");
    this.view = new TranscriptView(root.querySelector(".transcript"), { filename: "dictation" });
    this.offset = 0; // seconds dictated in earlier sessions, so times keep counting up
    this.mic = null;
    this.stream = null;
    this.button.addEventListener("click", () => (this.state === "idle" ? this.start() : this.stop()));
    root.querySelector("#clear-dictation").addEventListener("click", () => this.view.clear());
    this._setState("idle");
  }

  async start() {
    this._setState("starting");
    this._showError("");
    this._say("Waiting for the microphone…");
    const stream = new LiveStream({
      model: this.modelSelect.value,
      onReady: ({ reconnected }) => this._say(reconnected ? "Reconnected. Listening…" : "Listening… speak now."),
      onPartial: (text) => this.view.setPartial(text),
      onFinal: (segment) => {
        this.view.setPartial("");
        this.view.addSegment({ ...segment, start: segment.start + this.offset, end: segment.end + this.offset });
      },
      onStatus: (message, kind) => this._say(message, kind),
      onFatal: (message) => this._fail(message),
      onDone: ({ complete }) => this._finished(complete),
    });
    try {
      this.mic = await startMic({
        onChunk: (pcm) => stream.sendAudio(pcm),
        onLevel: (level) => this._level(level),
        onEnded: () => this._micLost(),
      });
    } catch (error) {
      this._say("");
      this._showError(error.message);
      this._setState("idle");
      return;
    }
    this.stream = stream;
    this._setState("listening");
    this._say("Connecting to the server…");
    stream.start();
  }

  async stop() {
    if (this.state !== "listening") return;
    this._setState("stopping");
    this._say("Finishing the last words…");
    await this._stopMic();
    this.stream.finish();
  }

  _micLost() {
    // Finish properly (eof, last finals) with the audio we have; only the device is gone.
    this._showError("The microphone stopped (was it unplugged?). Your transcript is kept.");
    this.stop();
  }

  async _stopMic() {
    const mic = this.mic;
    this.mic = null;
    if (mic) await mic.stop();
    this._level(0);
  }

  _finished(complete) {
    const stream = this.stream;
    const pending = this.view.partialText;
    if (!complete && pending) {
      // The server could not be reached to confirm it: keep the words as they were shown.
      this.view.addSegment({
        text: pending,
        start: this.offset + stream.pendingStart,
        end: this.offset + stream.totalSamples / 16000,
      });
    }
    this._endSession();
    if (complete) this._say("Stopped. Press Start dictation to continue.");
    else this._say("The server could not be reached to finish; the last words are kept as last shown.", "warning");
  }

  async _fail(message) {
    this._showError(message);
    if (this.stream) this.stream.abort();
    await this._stopMic();
    if (this.stream) this._endSession();
    this._say("");
  }

  _endSession() {
    this.offset += this.stream.totalSamples / 16000;
    this.stream = null;
    this.view.setPartial("");
    this._setState("idle");
  }

  _setState(state) {
    this.state = state;
    this.label.textContent = LABELS[state];
    this.button.disabled = state === "starting" || state === "stopping";
    this.button.classList.toggle("recording", state === "listening");
    this.root.dataset.state = state;
    this.modelSelect.disabled = state !== "idle";
  }

  _level(level) {
    this.fill.style.transform = `scaleX(${(1 - level).toFixed(3)})`; // the cover over the gradient
    this.meter.setAttribute("aria-valuenow", String(Math.round(level * 100)));
  }

  _say(message, kind = "info") {
    this.status.textContent = message;
    this.status.dataset.kind = kind;
  }

  _showError(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
  }
}
