// Models: the backends' checkpoints (GET /models) and the LoRA catalog (GET /loras), with
// previews, trigger words, base model and what Civitai says (GET /loras/{filename}).
import { api, enc, keyedImage } from "./api.js";
import { $, h, toast } from "./ui.js";
import { getModels } from "./state.js";

let wired = false;
let offset = 0;
const PAGE = 48;

export async function enter() {
  if (!wired) {
    wired = true;
    $("#lora-filter").addEventListener("submit", (e) => { e.preventDefault(); loras(true); });
  }
  await Promise.all([checkpoints(), loras(true)]);
}

function initials(name) {
  return h("span", { class: "thumb", "aria-hidden": "true" }, name.replace(/[^A-Za-z0-9]/g, "").slice(0, 3).toUpperCase());
}

async function checkpoints() {
  const models = await getModels();
  $("#checkpoint-list").replaceChildren(...(models.checkpoints || []).map((c) =>
    h("li", { class: "card" }, initials(c.name),
      h("div", {},
        h("h3", {}, c.name),
        h("p", {}, c.title),
        c.title === models.loaded_checkpoint ? h("p", {}, "Loaded now") : null))));
}

async function loras(reset) {
  const status = $("#models-status");
  if (reset) { offset = 0; $("#lora-list").replaceChildren(); }
  const q = $("#models-q").value.trim();
  const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
  if (q) params.set("search", q);
  try {
    const page = await api(`/loras?${params}`);
    offset += page.results.length;
    $("#lora-list").append(...page.results.map(card));
    status.textContent = `${offset} of ${page.count} LoRA${page.count === 1 ? "" : "s"}`;
    $("#lora-more")?.remove();
    if (offset < page.count) {
      $("#lora-list").after(h("button", { id: "lora-more", type: "button", onclick: () => loras(false) }, "Show more"));
    }
  } catch (err) {
    status.textContent = err.message;
  }
}

function card(lora) {
  const thumb = initials(lora.name);
  if (lora.preview_url) {
    keyedImage(lora.preview_url).then((src) => {
      thumb.replaceWith(h("img", { class: "thumb", src, alt: `Preview of ${lora.name}`, width: "72", height: "72" }));
    }).catch(() => {});
  }
  const civitai = h("details", {}, h("summary", {}, "Details and Civitai"), h("div", { class: "more" }, "Loading…"));
  civitai.addEventListener("toggle", () => { if (civitai.open) details(lora, civitai.querySelector(".more")); }, { once: true });
  return h("li", { class: "card", "data-lora": lora.filename }, thumb,
    h("div", {},
      h("h3", {}, lora.name),
      h("p", {}, `${lora.base_model || "base model unknown"} · ${lora.filename}`),
      lora.trigger_words.length
        ? h("ul", { class: "chips", "aria-label": "Trigger words" }, lora.trigger_words.map((w) => h("li", {}, w)))
        : h("p", {}, "No trigger words"),
      h("button", { type: "button", onclick: () => use(lora) }, "Use in my session")),
    civitai);
}

async function use(lora) {
  const { addLora } = await import("./generate.js");
  try {
    await addLora(lora.filename, lora.preferred_weight || 0.8);
    toast(`${lora.name} added to your LoRAs.`);
  } catch (err) {
    toast(err.message);
  }
}

async function details(lora, box) {
  try {
    const full = await api(`/loras/${enc(lora.filename)}`);
    const rows = { Description: full.description || "—", "Preferred weight": full.preferred_weight, Hash: full.short_hash || "—" };
    const c = full.civitai;
    if (c && c.status === "found") {
      Object.assign(rows, {
        "Civitai model": `${c.model_name} (${c.version_name})`, "Civitai base model": c.base_model,
        "Trained words": (c.trained_words || []).join(", ") || "—", NSFW: c.nsfw ? "yes" : "no",
      });
    } else {
      rows.Civitai = c ? c.status.replace("_", " ") : "not looked up";
    }
    box.replaceChildren(h("dl", { class: "meta" }, Object.entries(rows).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))])),
      c && c.page_url ? h("a", { href: c.page_url, target: "_blank", rel: "noopener noreferrer" }, "Open on Civitai") : null);
  } catch (err) {
    box.textContent = err.message;
  }
}
