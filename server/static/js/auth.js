// The API token (issue 8): asked for once, when the server answers 401 or refuses the
// live socket, and kept in localStorage. Sent as "Authorization: Bearer" over HTTP and
// as ?token= on the WebSocket (browsers cannot set headers on a WebSocket).

const KEY = "transcriber.apiToken";
let memoryToken = ""; // used when storage is disabled (private windows, strict settings)
let asking = null; // one dialog at a time; concurrent callers share its answer

function storedToken() {
  try {
    return localStorage.getItem(KEY) || "";
  } catch {
    return "";
  }
}

export function currentToken() {
  return storedToken() || memoryToken;
}

export function saveToken(token) {
  memoryToken = token;
  try {
    if (token) localStorage.setItem(KEY, token);
    else localStorage.removeItem(KEY);
  } catch {
    /* keep it in memory only */
  }
  document.dispatchEvent(new CustomEvent("token-changed"));
}

/** Show the token dialog; resolves to the new token, or "" if the user cancels. */
export function askForToken() {
  if (asking) return asking;
  const dialog = document.getElementById("token-dialog");
  const form = dialog.querySelector("form");
  const input = dialog.querySelector("input");
  const note = dialog.querySelector("[data-token-note]");
  note.textContent = currentToken()
    ? "The saved token was not accepted. Enter the current one."
    : "This server needs an access token. Ask whoever runs it.";
  input.value = "";
  asking = new Promise((resolve) => {
    const done = () => {
      dialog.removeEventListener("close", done);
      asking = null;
      const token = dialog.returnValue === "save" ? input.value.trim() : "";
      if (token) saveToken(token);
      resolve(token);
    };
    dialog.addEventListener("close", done);
  });
  form.reset();
  dialog.returnValue = "";
  dialog.showModal();
  input.focus();
  return asking;
}
