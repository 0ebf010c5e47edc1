// The upload panel: file picker and drop zone, progress bar, result and errors.
import { postForm } from "./api.js";
import { TranscriptView } from "./transcript-view.js";

function seconds(value) {
  return `${value.toFixed(1)} s`;
}

export class UploadPanel {
  constructor({ root, modelSelect }) {
    this.root = root;
    this.modelSelect = modelSelect;
    this.input = root.querySelector("#file-input");
    this.dropzone = root.querySelector(".dropzone");
    this.progress = root.querySelector("progress");
    this.progressRow = root.querySelector(".progress-row");
    this.status = root.querySelector("#upload-status");
    this.error = root.querySelector("#upload-error");
    this.summary = root.querySelector(".summary");
    this.view = new TranscriptView(root.querySelector(".transcript"), { filename: "transcript" });
    this.busy = false;

    this.input.addEventListener("change", () => {
      if (this.input.files.length) this.transcribe(this.input.files[0]);
    });
    this._wireDragAndDrop();
  }

  _wireDragAndDrop() {
    const zone = this.dropzone;
    const over = (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    };
    zone.addEventListener("dragenter", over);
    zone.addEventListener("dragover", over);
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      const file = event.dataTransfer && event.dataTransfer.files[0];
      if (file) this.transcribe(file);
    });
    // A file dropped next to the zone must not make the browser navigate away from the page.
    for (const type of ["dragover", "drop"]) {
      window.addEventListener(type, (event) => {
        if (!zone.contains(event.target)) event.preventDefault();
      });
    }
  }

  async transcribe(file) {
    if (this.busy) return;
    this.busy = true;
    this.root.setAttribute("aria-busy", "true");
    this.input.disabled = true;
    this.dropzone.classList.add("disabled");
    this._showError("");
    this.view.clear();
    this.summary.textContent = "";
    this.progressRow.hidden = false;
    this.progress.value = 0;
    this.status.textContent = `Uploading ${file.name}…`;

    const form = new FormData();
    form.append("file", file, file.name);
    if (this.modelSelect.value) form.append("model", this.modelSelect.value);
    try {
      const result = await postForm("/api/transcribe", form, (p) => this._progress(p, file));
      this.view.filename = file.name.replace(/\.[^.]+$/, "") || "transcript";
      this.view.setSegments(result.segments);
      this.summary.textContent =
        `${file.name} · ${seconds(result.duration)} of audio · ` +
        `transcribed in ${seconds(result.processing_time)} · model ${result.model}`;
      this.status.textContent = result.segments.some((s) => s.text)
        ? "Done."
        : "Done, but no speech was found in this file.";
    } catch (error) {
      this.status.textContent = "";
      this._showError(`Could not transcribe ${file.name}: ${error.message}`);
    } finally {
      this.progressRow.hidden = true;
      this.busy = false;
      this.root.removeAttribute("aria-busy");
      this.input.disabled = false;
      this.input.value = "";
      this.dropzone.classList.remove("disabled");
    }
  }

  _progress({ phase, fraction }, file) {
    if (phase === "upload") {
      this.progress.value = fraction;
      this.status.textContent = `Uploading ${file.name}… ${Math.round(fraction * 100)} %`;
    } else {
      this.progress.removeAttribute("value"); // indeterminate while the server works
      this.status.textContent = `Transcribing ${file.name}…`;
    }
  }

  _showError(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
  }
}
