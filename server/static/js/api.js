// HTTP and WebSocket helpers: the token header, readable errors from the API's JSON
// ({"error": {"code", "message"}}) and one retry after asking for a token on 401.
import { askForToken, currentToken } from "./auth.js";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const UNREACHABLE = "Could not reach the server. Check that it is running and try again.";
const NO_TOKEN = "This server needs an access token; reload the page to enter it.";

function authHeaders() {
  const token = currentToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** The API's error body as an ApiError, or a plain one for a proxy's HTML page. */
export function errorFrom(status, bodyText) {
  try {
    const { error } = JSON.parse(bodyText);
    if (error && error.message) return new ApiError(status, error.code || "error", error.message);
  } catch {
    /* not JSON */
  }
  return new ApiError(status, "http_error", `The server answered with HTTP ${status}.`);
}

/** GET a JSON endpoint; on 401 ask for the token and try again. */
export async function getJson(path) {
  for (;;) {
    let response;
    try {
      response = await fetch(path, { headers: authHeaders(), cache: "no-store" });
    } catch {
      throw new ApiError(0, "unreachable", UNREACHABLE);
    }
    if (response.status === 401 && (await askForToken())) continue;
    const body = await response.text();
    if (!response.ok) throw response.status === 401 ? new ApiError(401, "unauthorized", NO_TOKEN) : errorFrom(response.status, body);
    return JSON.parse(body);
  }
}

function postOnce(path, form, onProgress) {
  // XMLHttpRequest, not fetch: fetch cannot report upload progress.
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress({ phase: "upload", fraction: e.loaded / e.total });
    xhr.upload.onload = () => onProgress({ phase: "processing" });
    xhr.onerror = () => reject(new ApiError(0, "unreachable", UNREACHABLE));
    xhr.onload = () => resolve({ status: xhr.status, body: xhr.responseText });
    xhr.send(form);
  });
}

/** POST multipart form data with upload progress; resolves to the JSON body. */
export async function postForm(path, form, onProgress = () => {}) {
  for (;;) {
    const { status, body } = await postOnce(path, form, onProgress);
    if (status === 401 && (await askForToken())) continue;
    if (status < 200 || status >= 300) throw status === 401 ? new ApiError(401, "unauthorized", NO_TOKEN) : errorFrom(status, body);
    return JSON.parse(body);
  }
}

/** ws(s)://this-host/path, with ?token= when one is stored. */
export function socketUrl(path) {
  const url = new URL(path, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const token = currentToken();
  if (token) url.searchParams.set("token", token);
  return url.href;
}

/**
 * After a WebSocket was refused before it opened: was it the token? Asks for one if so.
 * Resolves to "retry" (a new token was entered), "reachable" (HTTP works, so the socket
 * itself was refused), "unauthorized" (the user gave no token) or "unreachable".
 */
export async function diagnoseRefusedSocket() {
  let response;
  try {
    response = await fetch("/api/models", { headers: authHeaders(), cache: "no-store" });
  } catch {
    return "unreachable";
  }
  if (response.status === 401) return (await askForToken()) ? "retry" : "unauthorized";
  return response.ok ? "reachable" : "unreachable";
}
