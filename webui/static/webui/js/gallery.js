// Browse: the user's pictures (GET /users/{id}/images, cursor-paginated, newest first),
// searched by prompt words, with one picture's settings and actions in a dialog.
import { api, userPath, local } from "./api.js";
import { $, h, toast, copyText } from "./ui.js";
import * as jobs from "./jobs.js";

const items = new Map();
let next = null;
let loading = false;
let current = null;
let wired = false;

export async function enter() {
  if (!wired) {
    wired = true;
    wire();
  }
  jobs.resume();
  await reload();
}

function query() {
  const params = new URLSearchParams({ page_size: "30" });
  const q = $("#gallery-q").value.trim();
  if (q) params.set("q", q);
  if ($("#gallery-fav").checked) params.set("favorite", "true");
  return userPath(`/images?${params}`);
}

async function reload() {
  items.clear();
  $("#gallery-grid").replaceChildren();
  next = query();
  await more();
}

async function more() {
  if (loading || !next) return;
  loading = true;
  const status = $("#gallery-status");
  try {
    const page = await api(next);
    next = page.next ? local(page.next) : null;
    $("#gallery-grid").append(...page.results.map(tile));
    status.textContent = items.size
      ? `${items.size}${next ? "+" : ""} picture${items.size === 1 ? "" : "s"}`
      : ($("#gallery-q").value || $("#gallery-fav").checked ? "Nothing matches." : "No pictures yet: make one on Generate.");
  } catch (err) {
    status.textContent = err.message;
    next = null;
  } finally {
    loading = false;
  }
  // A tall screen may show the sentinel at once: keep filling it.
  if (next && isVisible($("#gallery-more"))) await more();
}

function isVisible(node) {
  const box = node.getBoundingClientRect();
  return box.top < window.innerHeight + 400;
}

function tile(item) {
  items.set(item.id, item);
  return h("li", { "data-image": String(item.id) },
    h("button", { type: "button", "aria-label": `Open: ${item.prompt.slice(0, 80)}`, onclick: () => open(item.id) },
      h("img", { src: item.thumbnail_url, alt: "", loading: "lazy", width: "256", height: "256" }),
      item.favorite ? h("span", { class: "star", "aria-hidden": "true" }, "★") : null));
}

function wire() {
  $("#gallery-search").addEventListener("submit", (e) => { e.preventDefault(); reload(); });
  $("#gallery-fav").addEventListener("change", reload);
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) more();
  }, { rootMargin: "400px" }).observe($("#gallery-more"));
  const dialog = $("#image-dialog");
  $("#image-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    const tileButton = current && document.querySelector(`[data-image="${current.id}"] button`);
    tileButton?.focus();
  });
  $("#act-favorite").addEventListener("click", favorite);
  $("#act-rerun").addEventListener("click", () => action("rerun", {}, "Rerun"));
  $("#act-variations").addEventListener("click", () => action("variations", { count: 4 }, "Variations"));
  $("#act-upscale").addEventListener("click", () => action("upscale", { scale: 2 }, "Upscale ×2"));
  $("#remix-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const prompt = $("#remix-prompt").value.trim();
    if (!prompt) { $("#image-status").textContent = "Write the new prompt first."; return; }
    action("remix", { prompt }, `Remix: ${prompt}`);
  });
  $("#act-copy").addEventListener("click", async () => {
    const ok = await copyText(current.infotext || "");
    toast(ok ? "Infotext copied." : "Could not copy: select the text below.");
  });
  $("#act-delete").addEventListener("click", remove);
}

export async function open(id) {
  current = items.get(id) || (await api(`/images/${id}`));
  const item = current;
  $("#image-title").textContent = item.prompt.length > 60 ? `${item.prompt.slice(0, 60)}…` : item.prompt || "Picture";
  const img = $("#image-full");
  img.src = item.compressed_url || item.url;
  img.alt = item.prompt;
  const meta = {
    Prompt: item.prompt, Seed: item.seed, Size: `${item.width}×${item.height}`, Checkpoint: item.checkpoint || "(default)",
    Kind: item.kind, Made: new Date(item.created_at).toLocaleString(), Tags: item.tags.join(", ") || "—",
  };
  $("#image-meta").replaceChildren(...Object.entries(meta).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]));
  $("#image-infotext").textContent = item.infotext || "";
  const download = $("#act-download");
  download.href = item.url;
  download.setAttribute("download", `${item.job_id}-${item.index}.png`);
  setFavorite(item.favorite);
  const del = $("#act-delete");
  del.textContent = "Delete";
  del.dataset.armed = "";
  $("#image-status").textContent = "";
  $("#remix-prompt").value = "";
  const dialog = $("#image-dialog");
  if (!dialog.open) dialog.showModal();
}

function setFavorite(on) {
  const button = $("#act-favorite");
  button.setAttribute("aria-pressed", String(on));
  button.textContent = on ? "★ Favourite" : "☆ Favourite";
}

async function favorite() {
  const on = !current.favorite;
  try {
    await api(`/images/${current.id}/favorite`, { method: on ? "POST" : "DELETE" });
    current.favorite = on;
    setFavorite(on);
    const button = document.querySelector(`[data-image="${current.id}"] button`);
    if (button) button.replaceWith(tile(current).firstChild);
    $("#image-status").textContent = on ? "Added to your favourites." : "Removed from your favourites.";
  } catch (err) {
    $("#image-status").textContent = err.message;
  }
}

async function action(name, body, title) {
  try {
    const job = await api(`/images/${current.id}/${name}`, { method: "POST", body });
    $("#image-dialog").close();
    location.hash = "#/generate";
    jobs.track(job, title === "Rerun" ? `Rerun: ${current.prompt}` : title);
  } catch (err) {
    $("#image-status").textContent = err.message;
  }
}

async function remove() {
  const button = $("#act-delete");
  if (!button.dataset.armed) {
    // Two steps instead of a confirm() box: the second press deletes.
    button.dataset.armed = "1";
    button.textContent = "Press again to delete";
    return;
  }
  try {
    await api(`/images/${current.id}`, { method: "DELETE" });
    document.querySelector(`[data-image="${current.id}"]`)?.remove();
    items.delete(current.id);
    $("#image-dialog").close();
    toast("Picture deleted.");
  } catch (err) {
    $("#image-status").textContent = err.message;
  }
}

