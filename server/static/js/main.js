// Page start-up: the model list, the two panels and the saved-token control.
import { getJson } from "./api.js";
import { currentToken, saveToken } from "./auth.js";
import { DictationPanel } from "./dictation.js";
import { UploadPanel } from "./upload.js";

async function loadModels(select, pageError) {
  try {
    const { default: defaultName, models } = await getJson("/api/models");
    select.replaceChildren(
      ...models.map((model) => {
        const isDefault = model.name === defaultName && model.name !== "default";
        const option = new Option(model.name + (isDefault ? " (default)" : ""), model.name);
        option.disabled = !model.available;
        option.selected = model.name === defaultName;
        if (!model.available) option.text += " (not installed)";
        if (model.quantization) option.title = model.quantization;
        return option;
      }),
    );
    document.body.dataset.models = "loaded";
  } catch (error) {
    pageError.textContent = `Could not load the model list: ${error.message}`;
    pageError.hidden = false;
    document.body.dataset.models = "failed";
  }
}

function wireTokenControl() {
  const button = document.getElementById("forget-token");
  const refresh = () => (button.hidden = !currentToken());
  button.addEventListener("click", () => {
    saveToken("");
    refresh();
  });
  document.addEventListener("token-changed", refresh);
  refresh();
}

const modelSelect = document.getElementById("model");
new UploadPanel({ root: document.getElementById("upload"), modelSelect });
new DictationPanel({ root: document.getElementById("dictation"), modelSelect });
wireTokenControl();
loadModels(modelSelect, document.getElementById("page-error"));
