// One transcript on screen: timestamped segments, an optional live partial line, and
// the copy / download buttons. Used by both the upload and the dictation panels.
import { EXPORTS, shortClock, toText } from "./formats.js";

export class TranscriptView {
  constructor(root, { filename = "transcript" } = {}) {
    this.root = root;
    this.filename = filename;
    this.segments = [];
    this.list = root.querySelector(".segments");
    this.partial = root.querySelector(".partial");
    this.placeholder = root.querySelector(".placeholder");
    this.feedback = root.querySelector(".action-feedback");
    this.buttons = root.querySelectorAll("[data-action]");
    root.querySelector('[data-action="copy"]').addEventListener("click", () => this.copy());
    for (const button of root.querySelectorAll("[data-format]")) {
      button.addEventListener("click", () => this.download(button.dataset.format));
    }
    this._refresh();
  }

  clear() {
    this.segments = [];
    this.list.replaceChildren();
    this.setPartial("");
    this._refresh();
  }

  /** Append one finished segment {start, end, text}; empty texts are not shown or exported. */
  addSegment(segment) {
    if (!segment.text) return;
    this.segments.push(segment);
    const item = document.createElement("li");
    item.className = "segment";
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = `${shortClock(segment.start)} – ${shortClock(segment.end)}`;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = segment.text;
    item.append(time, text);
    this.list.append(item);
    this._refresh();
    this._scrollToEnd();
  }

  setSegments(segments) {
    this.clear();
    segments.forEach((s) => this.addSegment(s));
  }

  /** The words of the segment still being spoken; replaced in place, never appended. */
  setPartial(text) {
    this.partial.textContent = text;
    this.partial.hidden = !text;
    this._refresh();
    if (text) this._scrollToEnd();
  }

  get partialText() {
    return this.partial.textContent;
  }

  text() {
    return toText(this.segments).trim();
  }

  async copy() {
    const text = this.text();
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      this._copyFallback(text); // no clipboard API (plain http on a LAN address)
    }
    this._say("Copied to the clipboard.");
  }

  _copyFallback(text) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }

  download(format) {
    const { render, type } = EXPORTS[format];
    const blob = new Blob([render(this.segments)], { type: `${type};charset=utf-8` });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `${this.filename}.${format}`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    this._say(`Saved ${link.download}.`);
  }

  _say(message) {
    this.feedback.textContent = message;
    clearTimeout(this._sayTimer);
    this._sayTimer = setTimeout(() => (this.feedback.textContent = ""), 3000);
  }

  _refresh() {
    const empty = this.segments.length === 0;
    this.placeholder.hidden = !empty || Boolean(this.partial.textContent);
    for (const button of this.buttons) button.disabled = empty;
  }

  _scrollToEnd() {
    const body = this.root.querySelector(".transcript-body");
    body.scrollTop = body.scrollHeight;
  }
}
