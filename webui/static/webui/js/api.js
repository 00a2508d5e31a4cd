// The hub's public API, as every client uses it: a key in `Authorization: Bearer`, JSON
// in and out, the one error shape ({error, detail, fields, rule, level}) turned into an
// ApiError whose message is the hub's own sentence.

const KEY = "hub.key";
const USER = "hub.user";

export const auth = {
  get key() { return sessionStorage.getItem(KEY) || ""; },
  get user() { return sessionStorage.getItem(USER) || ""; },
  save(key, user) { sessionStorage.setItem(KEY, key); sessionStorage.setItem(USER, user); },
  clear() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(USER); },
};

export class ApiError extends Error {
  constructor(status, body) {
    super(describe(status, body));
    this.status = status;
    this.body = body || {};
  }
}

function describe(status, body) {
  if (!body || typeof body !== "object") return `The hub answered ${status}.`;
  let text = body.detail || body.error || `The hub answered ${status}.`;
  if (body.fields && !String(text).includes(":")) {
    const parts = Object.entries(body.fields).map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`);
    if (parts.length) text += ` (${parts.join("; ")})`;
  }
  return text;
}

/** A same-origin path for a link the hub gave (absolute, maybe on HUB_PUBLIC_URL). */
export function local(url) {
  if (!url) return url;
  const parsed = new URL(url, location.href);
  return parsed.pathname + parsed.search;
}

export async function api(path, { method = "GET", body, form, signal, headers = {} } = {}) {
  const init = {
    method, signal, credentials: "omit", cache: "no-store",
    headers: { Authorization: `Bearer ${auth.key}`, Accept: "application/json", ...headers },
  };
  if (form) init.body = form;
  else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(local(path), init);
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text.slice(0, 300) }; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const enc = encodeURIComponent;
export const userPath = (suffix = "") => `/users/${enc(auth.user)}${suffix}`;

/**
 * Server-sent events over fetch (EventSource cannot send the Authorization header):
 * calls onEvent(type, data) for each event until the stream ends or signal aborts.
 */
export async function stream(path, onEvent, signal) {
  const response = await fetch(local(path), {
    headers: { Authorization: `Bearer ${auth.key}`, Accept: "text/event-stream" },
    credentials: "omit", cache: "no-store", signal,
  });
  if (!response.ok || !response.body) {
    let body = null;
    try { body = await response.json(); } catch { /* not JSON */ }
    throw new ApiError(response.status, body);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let type = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) {
        try { onEvent(type, JSON.parse(data.join("\n"))); } catch (err) { console.warn(err); }
      }
    }
  }
}

const blobs = new Map();
/** An object URL for an image that needs the key (LoRA previews); cached per path. */
export async function keyedImage(path) {
  if (!blobs.has(path)) {
    blobs.set(path, (async () => {
      const response = await fetch(local(path), {
        headers: { Authorization: `Bearer ${auth.key}` }, credentials: "omit",
      });
      if (!response.ok) throw new ApiError(response.status, null);
      return URL.createObjectURL(await response.blob());
    })());
  }
  return blobs.get(path);
}
