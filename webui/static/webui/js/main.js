// The web app's entry: sign-in, the hash router (#/generate, #/gallery, #/models), and
// the "ready" mark the load test measures. Pages load on first visit.
import { api, auth, ApiError } from "./api.js";
import { $, h } from "./ui.js";
import { state, forget } from "./state.js";

const PAGES = {
  generate: () => import("./generate.js"),
  gallery: () => import("./gallery.js"),
  models: () => import("./models.js"),
};

function show(name) {
  for (const page of document.querySelectorAll(".page")) page.hidden = page.id !== `page-${name}`;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const signedIn = name !== "signin";
  $("#nav").hidden = !signedIn;
  $("#signout").hidden = !signedIn;
  $("#who").hidden = !signedIn;
  $("#loading").hidden = true;
}

function showWho() {
  // "Signed in as" gives way to the user id itself on a narrow phone (CSS).
  $("#who").replaceChildren(h("span", { class: "who-label" }, "Signed in as "), auth.user);
  $("#who").title = `Signed in as ${auth.user}`;
}

async function whoami() {
  state.me = await api("/me");
  if (!state.me.user_id && !auth.user) throw new Error("A service key needs a user id.");
  showWho();
}

/** A sign-in link (/app#token=...): trade its one-use token for a key, then forget it. */
async function signInWithLink() {
  const match = location.hash.match(/^#token=([^&]+)/);
  if (!match) return;
  history.replaceState(null, "", `${location.pathname}#/generate`);
  auth.clear();
  forget();
  const response = await fetch("/app/sign-in", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": $('meta[name="csrf-token"]').content },
    body: JSON.stringify({ token: decodeURIComponent(match[1]) }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    $("#signin-error").textContent = body.detail || `The hub answered ${response.status}.`;
    return;
  }
  auth.save(body.key, body.user_id);
}

let first = true;
async function route() {
  if (!auth.key) {
    show("signin");
    if (!first) $("#signin-key").focus();
    return;
  }
  try {
    if (!state.me) await whoami();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      auth.clear();
      show("signin");
      $("#signin-error").textContent = "Your key is no longer valid (expired or revoked): sign in again.";
      return;
    }
    throw err;
  }
  const wanted = (location.hash.match(/^#\/(\w+)/) || [])[1];
  const name = PAGES[wanted] ? wanted : "generate";
  show(name);
  const page = await PAGES[name]();
  await page.enter(location.hash);
  if (!first) $(`#page-${name} h1`).focus({ preventScroll: false });
}

async function signIn(event) {
  event.preventDefault();
  const key = $("#signin-key").value.trim();
  const typedUser = $("#signin-user").value.trim();
  const error = $("#signin-error");
  error.textContent = "";
  if (!key) {
    error.textContent = "Paste your API key.";
    return;
  }
  auth.save(key, typedUser);
  try {
    const me = await api("/me");
    if (me.is_service && !typedUser) {
      auth.clear();
      error.textContent = "This is a service key: also give the user id it should act for.";
      return;
    }
    auth.save(key, me.user_id || typedUser);
    state.me = me;
    $("#signin-key").value = "";
    showWho();
    if (!location.hash.startsWith("#/")) location.hash = "#/generate";
    else await route();
  } catch (err) {
    auth.clear();
    error.textContent = err instanceof ApiError && err.status === 401
      ? "The hub does not know this key (or it was revoked, or it expired)."
      : err.message;
  }
}

function signOut() {
  auth.clear();
  forget();
  location.hash = "";
  location.reload();
}

$("#signin-form").addEventListener("submit", signIn);
$("#signout").addEventListener("click", signOut);
window.addEventListener("hashchange", () => signInWithLink().then(route).catch(report));

function report(err) {
  console.error(err);
  const box = $("#toast");
  box.textContent = err.message || String(err);
}

signInWithLink()
  .then(route)
  .catch(report)
  .finally(() => {
    first = false;
    performance.mark("app-ready");
    document.documentElement.dataset.ready = "1";
  });
