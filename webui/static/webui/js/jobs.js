// Watching jobs: queue position and ETA, a progress bar, the live preview and cancel.
// Follows GET /jobs/{id}/events (SSE over fetch); when the hub has no stream slot free
// (429) or the stream drops, it polls GET /jobs/{id} instead.
import { api, stream, userPath, ApiError } from "./api.js";
import { $, h } from "./ui.js";

const FINAL = new Set(["completed", "failed", "cancelled"]);
const followed = new Set();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let resumed = false;
/** Once per page load: the user's queued and running jobs, followed again. */
export async function resume() {
  if (resumed) return;
  resumed = true;
  try {
    const queue = await api(userPath("/queue"));
    for (const job of queue.jobs.reverse()) track(job);
  } catch (err) {
    console.warn("could not list the queue", err);
  }
}

export function track(job, title) {
  if (followed.has(job.job_id)) return;
  followed.add(job.job_id);
  const card = h("li", { class: "job", "data-job": job.job_id, "data-status": job.status },
    h("p", { class: "title" }, title || job.prompt || `${job.kind} job`),
    h("div", { class: "line" }, h("span", { class: "state" }, "Queued"), h("span", { class: "pct" }, "0 %")),
    h("progress", { max: "1", value: "0", "aria-label": "Progress" }),
    h("img", { class: "preview", alt: "Live preview", hidden: true }),
    h("div", { class: "results" }),
    h("p", { class: "error", role: "alert" }),
    h("button", { type: "button", class: "cancel", onclick: () => cancel(job.job_id, card) }, "Cancel"),
  );
  $("#job-list").prepend(card);
  $("#jobs-empty").hidden = true;
  update(card, job);
  follow(job.job_id, card).catch((err) => {
    card.querySelector(".error").textContent = err.message;
  });
  return card;
}

function describe(job) {
  const eta = job.eta_seconds != null ? ` · about ${Math.max(1, Math.round(job.eta_seconds))} s left` : "";
  switch (job.status) {
    case "queued":
      return job.queue_position ? `Queued · position ${job.queue_position}${eta}` : `Queued${eta}`;
    case "paused": return "Paused";
    case "running":
      return job.total_steps ? `Running · step ${job.step}/${job.total_steps}${eta}` : `Running${eta}`;
    case "completed": return "Done";
    case "failed": return `Failed: ${job.message}`;
    case "cancelled": return "Cancelled";
    default: return job.status;
  }
}

/** Shows ``job`` on its card; true when it is over. */
function update(card, job) {
  card.dataset.status = job.status;
  const progress = job.status === "completed" ? 1 : Math.max(0, Math.min(1, job.progress || 0));
  card.querySelector("progress").value = progress;
  card.querySelector(".pct").textContent = `${Math.round(progress * 100)} %`;
  card.querySelector(".state").textContent = describe(job);
  if (job.preview_url && !FINAL.has(job.status)) showPreview(card, job.preview_url);
  const over = FINAL.has(job.status);
  if (over) card.querySelector(".cancel").hidden = true;
  return over;
}

function showPreview(card, url) {
  const img = card.querySelector(".preview");
  if (img.getAttribute("src") !== url) img.src = url;
  img.hidden = false;
}

async function follow(id, card) {
  let over = false;
  let streaming = true;
  let last = null;
  while (!over) {
    if (streaming) {
      try {
        await stream(`/jobs/${id}/events`, (type, data) => {
          if (type === "preview") showPreview(card, data.preview_url);
          else if (data && data.status) {
            last = data;
            over = update(card, data) || over;
          }
        });
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) throw err;
        streaming = false; // no stream slot (429) or a dropped connection: poll instead
      }
    }
    if (!over) {
      last = await api(`/jobs/${id}`);
      over = update(card, last);
      if (!over) await sleep(700);
    }
  }
  await finish(id, card, last);
}

async function finish(id, card, job) {
  card.querySelector(".preview").hidden = true;
  if (!job || !["completed", "cancelled"].includes(job.status)) return;
  try {
    const result = await api(`/jobs/${id}/result?format=url`);
    const box = card.querySelector(".results");
    for (const item of result.items.filter((i) => i.role === "image" || !i.role)) {
      box.append(h("a", { href: item.compressed_url || item.url, target: "_blank", rel: "noopener" },
        h("img", { src: item.thumbnail_url || item.url, alt: `Result ${item.index + 1}`, width: "256", height: "256" })));
    }
    if (result.warnings?.length) card.querySelector(".error").textContent = result.warnings.join(" ");
  } catch (err) {
    card.querySelector(".error").textContent = err.message;
  }
}

async function cancel(id, card) {
  try {
    const job = await api(`/jobs/${id}/cancel`, { method: "POST" });
    if (job && job.status) update(card, job);
  } catch (err) {
    card.querySelector(".error").textContent = err.message;
  }
}
