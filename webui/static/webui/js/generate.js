// Generate: the request form (bounded by GET /me's limits), the session's LoRA stack,
// ControlNet, presets and the dry run's cost. Submitting goes to POST /generate/*.
import { api, auth, enc, ApiError } from "./api.js";
import { $, h, debounce, option, toast } from "./ui.js";
import { state, getModels } from "./state.js";
import * as jobs from "./jobs.js";

const SLIDERS = { steps: "steps", width: "width", height: "height", batch_size: "images" };
const LEVEL = { hub: "the hub", global: "the hub's policy", community: "the community", channel: "the channel", key: "your key" };
let ready = false;
let presets = [];

export async function enter() {
  if (!ready) {
    ready = true;
    await setup();
  }
  jobs.resume();
}

async function setup() {
  applyLimits(state.me);
  for (const name of [...Object.keys(SLIDERS), "cfg_scale"]) pairSlider(name);
  const form = $("#gen-form");
  form.addEventListener("submit", submit);
  form.addEventListener("input", debounce(estimate, 500));
  wireLoras();
  wirePresets();
  wireControlNet();
  const session = api(sessionPath());
  await Promise.all([fillModels(), loadPresets()]);
  const { active_loras: loras, custom_settings: saved } = await session;
  renderStack(loras);
  applySaved(saved || {});
  estimate();
}

// --- limits and sliders ------------------------------------------------------------------
function applyLimits(me) {
  const defaults = me.defaults || {};
  for (const [field, limitName] of Object.entries(SLIDERS)) {
    const limit = me.limits[limitName];
    if (!limit) continue;
    const max = field === "batch_size" ? Math.min(limit.max, 16) : limit.max;
    for (const input of [$(`#${field}-range`), $(`#${field}`)]) {
      input.max = String(max);
      if (field === "width" || field === "height") input.min = String(me.min_size || 64);
    }
    const number = $(`#${field}`);
    number.dataset.max = String(max);
    number.dataset.setBy = limit.set_by;
  }
  for (const field of ["steps", "cfg_scale", "width", "height"]) {
    if (defaults[field] != null) setValue(field, defaults[field]);
  }
  $("#prompt").maxLength = me.max_prompt_chars || 4000;
  $("#negative_prompt").maxLength = me.max_prompt_chars || 4000;
  for (const field of Object.keys(SLIDERS)) hint(field);
}

function setValue(field, value) {
  $(`#${field}`).value = value;
  const range = $(`#${field}-range`);
  if (range) range.value = value;
  if (SLIDERS[field]) hint(field);
}

function pairSlider(field) {
  const range = $(`#${field}-range`);
  const number = $(`#${field}`);
  range.addEventListener("input", () => { number.value = range.value; hint(field); });
  // Typing is never clamped: a value past the limit is sent, and the hub's refusal shown.
  number.addEventListener("input", () => { range.value = number.value; hint(field); });
}

function hint(field) {
  const number = $(`#${field}`);
  const box = $(`#${field}-hint`);
  if (!box) return;
  const max = Number(number.dataset.max);
  const setBy = number.dataset.setBy;
  const value = Number(number.value);
  if (max && value > max) {
    box.textContent = `Above your limit of ${max} (set by ${LEVEL[setBy] || setBy}): the hub will refuse it.`;
    box.classList.add("over");
  } else {
    box.textContent = setBy && setBy !== "hub" ? `At most ${max} (set by ${LEVEL[setBy] || setBy}).` : "";
    box.classList.remove("over");
  }
}

function params() {
  const number = (id) => Number($(`#${id}`).value);
  const body = {
    prompt: $("#prompt").value,
    negative_prompt: $("#negative_prompt").value,
    sampler_name: $("#sampler_name").value || undefined,
    steps: number("steps"),
    cfg_scale: number("cfg_scale"),
    width: number("width"),
    height: number("height"),
    batch_size: number("batch_size"),
    seed: number("seed"),
  };
  const checkpoint = $("#checkpoint").value;
  if (checkpoint) body.checkpoint = checkpoint;
  return body;
}

// The session's saved defaults (set here, by the Discord bot or the API) fill the form, so
// what it shows is what is sent. Their names, as sessions_app.custom_settings reads them.
const SAVED = {
  preferred_sampler: "sampler_name", preferred_checkpoint: "checkpoint", default_steps: "steps",
  default_cfg: "cfg_scale", default_cfg_scale: "cfg_scale", default_width: "width",
  default_height: "height", default_negative_prompt: "negative_prompt",
};

function applySaved(saved) {
  for (const [key, value] of Object.entries(saved)) {
    const field = SAVED[key] || key;
    if (value === null || typeof value === "object") continue;
    if (field === "checkpoint") selectCheckpoint(String(value));
    else if (field === "sampler_name" || field === "negative_prompt") $(`#${field}`).value = value;
    else if ($(`#${field}-range`)) setValue(field, value);
  }
}

function selectCheckpoint(name) {
  const wanted = name.toLowerCase().replace(/\.(safetensors|ckpt)$/, "");
  const match = [...$("#checkpoint").options].find((o) => o.value && (
    o.value.toLowerCase().startsWith(wanted) || o.textContent.toLowerCase() === wanted));
  if (match) match.selected = true;
}

// --- models --------------------------------------------------------------------------------
async function fillModels() {
  const models = await getModels();
  const checkpoint = $("#checkpoint");
  const loaded = models.loaded_checkpoint ? ` (now ${models.loaded_checkpoint.replace(/ \[.*$/, "")})` : "";
  checkpoint.replaceChildren(option("", `Default${loaded}`));
  for (const c of models.checkpoints || []) checkpoint.append(option(c.title, c.name));
  const sampler = $("#sampler_name");
  const preferred = state.me.defaults?.sampler_name;
  sampler.replaceChildren(...(models.samplers || []).map((s) => option(s.name, s.name, s.name === preferred)));
  const cn = models.controlnet;
  if (cn && cn.models) {
    $("#cn-module").replaceChildren(...cn.modules.map((m) => option(m, m, m === "canny")));
    $("#cn-model").replaceChildren(...cn.models.map((m) => option(m)));
  } else {
    $("#cn").hidden = true;
  }
}

// --- the session's LoRA stack and the autocomplete ----------------------------------------------
const sessionPath = (suffix = "") => `/sessions/${enc(auth.user)}${suffix}`;
let stack = {};

async function loadSession() {
  renderStack((await api(sessionPath())).active_loras);
}

function renderStack(active) {
  stack = { ...active };
  const { min = -5, max = 5 } = state.me.lora_weight || {};
  $("#lora-stack").replaceChildren(...Object.entries(stack).map(([filename, weight]) => {
    const id = `w-${filename.replace(/[^\w-]/g, "_")}`;
    const out = h("output", { for: id }, Number(weight).toFixed(2));
    // -2..2 is where weights live and what a thumb can set on a phone; a weight set
    // elsewhere (the Discord bot, the API) widens the slider rather than being clamped.
    const low = Math.max(min, Math.min(-2, weight));
    const high = Math.min(max, Math.max(2, weight));
    const range = h("input", {
      id, type: "range", min: String(low), max: String(high), step: "0.05",
      value: String(weight), "aria-label": `Weight of ${filename}`,
    });
    range.addEventListener("input", () => { out.textContent = Number(range.value).toFixed(2); });
    range.addEventListener("change", () => setLora(filename, Number(range.value)));
    return h("li", { "data-lora": filename },
      h("span", { class: "name", title: filename }, filename.replace(/\.(safetensors|pt|ckpt)$/, "")),
      h("button", { type: "button", class: "quiet", "aria-label": `Remove ${filename}`, onclick: () => removeLora(filename) }, "✕"),
      h("div", { class: "pair" }, range, out));
  }));
}

async function setLora(filename, weight) {
  try {
    renderStack((await api(sessionPath("/loras"), { method: "POST", body: { filename, weight } })).active_loras);
    estimate();
  } catch (err) {
    toast(err.message);
  }
}

async function removeLora(filename) {
  try {
    await api(sessionPath(`/loras/${enc(filename)}`), { method: "DELETE" });
    await loadSession();
  } catch (err) {
    toast(err.message);
  }
}

export async function addLora(filename, weight = 0.8) {
  await setLora(filename, weight);
}

function wireLoras() {
  const input = $("#lora-search");
  const list = $("#lora-options");
  let choices = [];
  let active = -1;
  const close = () => { list.hidden = true; input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant"); active = -1; };
  const mark = (index) => {
    active = index;
    [...list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === index)));
    if (index >= 0) { input.setAttribute("aria-activedescendant", `lora-opt-${index}`); list.children[index].scrollIntoView({ block: "nearest" }); }
  };
  const pick = async (choice) => {
    close();
    input.value = "";
    await addLora(choice.value);
    toast(`${choice.name} added to your LoRAs`);
  };
  const search = debounce(async () => {
    const q = input.value.trim();
    if (!q) return close();
    try {
      choices = await api(`/loras/autocomplete?q=${enc(q)}`);
    } catch (err) {
      choices = [];
      toast(err.message);
    }
    list.replaceChildren(...choices.map((c, i) => h("li", {
      id: `lora-opt-${i}`, role: "option", "aria-selected": "false", "data-value": c.value,
      onmousedown: (e) => { e.preventDefault(); pick(c); },
    }, c.name)));
    if (!choices.length) list.append(h("li", { role: "option", "aria-disabled": "true" }, "No LoRA matches"));
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    mark(choices.length ? 0 : -1);
  }, 200);
  input.addEventListener("input", search);
  input.addEventListener("keydown", (e) => {
    if (list.hidden) return;
    if (e.key === "ArrowDown") { e.preventDefault(); mark(Math.min(active + 1, choices.length - 1)); }
    else if (e.key === "ArrowUp") { e.preventDefault(); mark(Math.max(active - 1, 0)); }
    else if (e.key === "Enter") { e.preventDefault(); if (choices[active]) pick(choices[active]); }
    else if (e.key === "Escape") close();
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
}

// --- cost (a dry run) and submitting ------------------------------------------------------------------
let estimateSeq = 0;
async function estimate() {
  const box = $("#cost");
  const body = { user_id: auth.user, ...params(), dry_run: true };
  if (!body.prompt.trim()) { box.textContent = "Write a prompt to see what it costs."; return; }
  const seq = ++estimateSeq;
  try {
    const dry = await api("/generate/txt2img", { method: "POST", body });
    if (seq !== estimateSeq) return;
    const left = dry.user_budget_left != null ? ` · ${dry.user_budget_left} left in your budget` : "";
    const cn = controlImage() ? " (+50% per ControlNet unit)" : "";
    box.textContent = `Estimated cost: ${dry.cost} units${cn}${left}.`;
  } catch (err) {
    if (seq === estimateSeq) box.textContent = `The hub would refuse this: ${err.message}`;
  }
}

async function submit(event) {
  event.preventDefault();
  const error = $("#gen-error");
  error.textContent = "";
  const body = { user_id: auth.user, ...params() };
  if (!body.prompt.trim()) {
    error.textContent = "Write a prompt first.";
    $("#prompt").focus();
    return;
  }
  const button = $("#generate");
  button.disabled = true;
  try {
    const image = controlImage();
    const job = image
      ? await api("/generate/controlnet", { method: "POST", form: controlForm(body, image) })
      : await api("/generate/txt2img", { method: "POST", body });
    jobs.track(job, body.prompt);
    $("#jobs").scrollIntoView({ behavior: "smooth", block: "start" });
  } catch (err) {
    error.textContent = err.message;
    if (err instanceof ApiError && err.body.fields) {
      const field = Object.keys(err.body.fields)[0];
      $(`#${field}`)?.focus();
    }
  } finally {
    button.disabled = false;
  }
}

// --- ControlNet ---------------------------------------------------------------------------------------
const controlImage = () => $("#cn-image").files[0] || null;

function unit() {
  return { module: $("#cn-module").value, model: $("#cn-model").value, weight: Number($("#cn-weight").value) };
}

function controlForm(body, image) {
  const form = new FormData();
  for (const [name, value] of Object.entries(body)) if (value !== undefined) form.append(name, String(value));
  form.append("controlnet_units", JSON.stringify([unit()]));
  form.append("image", image);
  return form;
}

function wireControlNet() {
  const source = $("#cn-source");
  $("#cn-image").addEventListener("change", () => {
    const file = controlImage();
    if (source.src) URL.revokeObjectURL(source.src);
    source.hidden = !file;
    if (file) source.src = URL.createObjectURL(file);
    $("#cn-map").hidden = true;
    estimate();
  });
  $("#cn-preview").addEventListener("click", async () => {
    const file = controlImage();
    const status = $("#cn-status");
    if (!file) { status.textContent = "Choose a control image first."; return; }
    const form = new FormData();
    form.append("image", file);
    form.append("module", $("#cn-module").value);
    status.textContent = "Running the preprocessor…";
    try {
      const answer = await api("/controlnet/preprocess", { method: "POST", form });
      const map = $("#cn-map");
      map.src = `data:image/png;base64,${answer.images[0]}`;
      map.hidden = false;
      status.textContent = `${answer.module} map`;
    } catch (err) {
      status.textContent = err.message;
    }
  });
}

// --- presets --------------------------------------------------------------------------------------------
const presetPath = (suffix = "") => `/presets/${enc(auth.user)}${suffix}`;

async function loadPresets(selected) {
  presets = (await api(presetPath())).presets;
  const select = $("#preset-select");
  select.replaceChildren(option("", presets.length ? "Choose a preset…" : "No presets yet"),
    ...presets.map((p) => option(String(p.id), p.visibility === "private" ? p.name : `${p.name} (${p.visibility})`, p.id === selected)));
}

function wirePresets() {
  const status = $("#preset-status");
  $("#preset-load").addEventListener("click", async () => {
    const preset = presets.find((p) => String(p.id) === $("#preset-select").value);
    if (!preset) { status.textContent = "Choose a preset first."; return; }
    try {
      const applied = await api(presetPath(`/${preset.id}/apply`), { method: "POST" });
      for (const [field, value] of Object.entries(preset.params || {})) {
        if (field === "prompt" || field === "negative_prompt") $(`#${field}`).value = value;
        else if (field === "checkpoint") selectCheckpoint(String(value));
        else if (field === "sampler_name") $("#sampler_name").value = value;
        else if ($(`#${field}`) && typeof value !== "object") setValue(field, value);
      }
      renderStack(applied.session.active_loras);
      const warned = applied.warnings?.length ? ` ${applied.warnings.join(" ")}` : "";
      const code = preset.share_code ? ` · share code ${preset.share_code}` : "";
      status.textContent = `Loaded “${preset.name}”${code}.${warned}`;
      estimate();
    } catch (err) {
      status.textContent = err.message;
    }
  });
  $("#preset-save").addEventListener("click", async () => {
    const name = $("#preset-name").value.trim();
    if (!name) { status.textContent = "Name the preset first."; $("#preset-name").focus(); return; }
    const { seed, ...rest } = params();
    const body = { name, params: seed >= 0 ? { ...rest, seed } : rest, loras: stack, visibility: $("#preset-visibility").value };
    try {
      const preset = await api(presetPath(), { method: "POST", body });
      await loadPresets(preset.id);
      status.textContent = preset.share_code
        ? `Saved “${preset.name}”. Share code: ${preset.share_code}`
        : `Saved “${preset.name}”.`;
    } catch (err) {
      status.textContent = err.message;
    }
  });
  $("#preset-copy").addEventListener("click", async () => {
    const code = $("#preset-code").value.trim();
    if (!code) { status.textContent = "Paste a share code first."; return; }
    try {
      const preset = await api(presetPath("/copy"), { method: "POST", body: { share_code: code } });
      await loadPresets(preset.id);
      status.textContent = `Copied “${preset.name}” into your presets.`;
    } catch (err) {
      status.textContent = err.message;
    }
  });
}
