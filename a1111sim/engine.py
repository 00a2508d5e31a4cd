"""The simulated webui process: options, loaded model, the FIFO queue lock, progress, jobs.

One generation runs at a time under a fair FIFO lock (modules/call_queue.queue_lock);
progress/interrupt/skip/options reads are answered without it, as in A1111.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import json
import random
import re
import string
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from . import adetailer, controlnet, extras, regional, render
from .catalog import (
    CONTROLNET_OPTIONS,
    RP_ARG_DEFAULTS,
    SAMPLER_NAMES,
    VERSION,
    Catalog,
    Checkpoint,
    default_options,
    effective_schedule_label,
    kdiffusion_schedule,
    resolve_sampler,
    script_titles,
    selectable_titles,
)
from .faults import Faults
from .loras import LoraLibrary, lora_params, parse_extra_networks
from .validation import ApiError, http_error, runtime_error

RESTRICT_API = {"api_enable_requests", "api_forbid_local_requests", "api_useragent"}
RE_B64 = re.compile(r"^(data:image/[\w.+-]+;base64,)?[A-Za-z0-9+/=\s]+$")


class FIFOLock:
    """A lock granted in arrival order (A1111's fifo_lock), so queued jobs run FIFO."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self) -> FIFOLock:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._cond.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()


@dataclass
class State:
    """modules.shared_state.State: the global job state /sdapi/v1/progress reports."""

    skipped: bool = False
    interrupted: bool = False
    stopping_generation: bool = False
    job: str = ""
    job_count: int = 0
    job_timestamp: str = "0"
    job_no: int = 0
    sampling_step: int = 0
    sampling_steps: int = 0
    time_start: float = 0.0
    textinfo: str | None = None
    # live previews (shared_state.State.current_latent/current_image/id_live_preview); the
    # "latent" is a callable drawing the preview of the sampling in progress
    current_latent: Any = None
    current_image: Image.Image | None = None
    current_image_sampling_step: int = 0
    id_live_preview: int = 0
    # the sampling thread moves job_no/sampling_step under this lock, so one progress answer
    # never mixes two steps (A1111 reads the fields unlocked; the values are the same)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def begin(self, job: str) -> None:
        self.skipped = self.interrupted = self.stopping_generation = False
        # shared_state.State.begin resets sampling_step but keeps sampling_steps
        self.job, self.job_count, self.job_no = job, -1, 0
        self.sampling_step = 0
        self.job_timestamp = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
        self.time_start = time.time()
        self.textinfo = None
        self.current_latent = self.current_image = None
        self.current_image_sampling_step = self.id_live_preview = 0

    def nextjob(self, opts: dict[str, Any]) -> None:
        """shared_state.State.nextjob."""
        if opts.get("live_previews_enable", True) and opts.get("show_progress_every_n_steps") == -1:
            self.do_set_current_image()
        with self.lock:
            self.job_no += 1
            self.sampling_step = 0
            self.current_image_sampling_step = 0

    def set_current_image(self, opts: dict[str, Any]) -> None:
        """shared_state.State.set_current_image: a new preview every N sampled steps."""
        every = opts.get("show_progress_every_n_steps", 10)
        if (
            opts.get("live_previews_enable", True)
            and every != -1
            and self.sampling_step - self.current_image_sampling_step >= every
        ):
            self.do_set_current_image()

    def do_set_current_image(self) -> None:
        latent = self.current_latent
        if latent is None:
            return
        self.current_image = latent()
        self.id_live_preview += 1
        self.current_image_sampling_step = self.sampling_step

    def end(self) -> None:
        self.job, self.job_count = "", 0

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return self._as_dict()

    def _as_dict(self) -> dict[str, Any]:
        return {
            "skipped": self.skipped,
            "interrupted": self.interrupted,
            "stopping_generation": self.stopping_generation,
            "job": self.job,
            "job_count": self.job_count,
            "job_timestamp": self.job_timestamp,
            "job_no": self.job_no,
            "sampling_step": self.sampling_step,
            "sampling_steps": self.sampling_steps,
        }


@dataclass
class Tasks:
    """modules.progress: pending/current/finished task ids for /internal/progress."""

    pending: dict[str, float] = field(default_factory=dict)
    current: str | None = None
    finished: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, task_id: str) -> None:
        with self.lock:
            self.pending[task_id] = time.time()

    def start(self, task_id: str) -> None:
        with self.lock:
            self.current = task_id
            self.pending.pop(task_id, None)

    def finish(self, task_id: str) -> None:
        with self.lock:
            if self.current == task_id:
                self.current = None
            self.finished.append(task_id)
            del self.finished[:-16]

    def queue_order(self) -> list[str]:
        with self.lock:
            return sorted(self.pending, key=lambda t: self.pending[t])


def sanitize(value: Any) -> Any:
    """The payload for /sim/state history, with base64 images shortened."""
    if isinstance(value, dict):
        return {k: sanitize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitize(v) for v in value]
    if isinstance(value, str) and len(value) >= 64 and RE_B64.match(value[:256]):
        data = render.RE_DATA_URI.sub("", value)
        try:
            size = len(base64.b64decode(data))
        except (binascii.Error, ValueError):
            return value
        return f"<b64 {size} bytes>"
    return value


def quote(value: Any) -> Any:
    """infotext_utils.quote: JSON-quote values that contain , : or newlines."""
    text = str(value)
    if "," not in text and "\n" not in text and ":" not in text:
        return value
    return json.dumps(value, ensure_ascii=False)


@dataclass
class Job:
    """One txt2img/img2img request as the processing pipeline sees it."""

    kind: str
    req: dict[str, Any]
    task_id: str
    history: dict[str, Any]
    init_images: list[Image.Image] = field(default_factory=list)
    mask: Image.Image | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    request: dict[str, Any] | None = None  # as received (before styles), echoed in parameters


def create_task_id(task_type: str) -> str:
    """modules.progress.create_task_id: task(<type>-<7 of A-Z0-9>)."""
    suffix = "".join(random.choices(string.ascii_uppercase + string.digits, k=7))
    return f"task({task_type}-{suffix})"


class Engine:
    def __init__(self, catalog: Catalog, loras: LoraLibrary, faults: Faults, *, controlnet_on: bool,
                 regional_on: bool, unit_count: int = 3, adetailer_on: bool = False,
                 ui: bool = True) -> None:  # fmt: skip
        # ControlNet's Script.ui reads control_net_unit_count once, when the UI is built: the
        # number of unit slots a job can use is fixed for the life of the process.
        self.unit_slots = unit_count
        self.catalog = catalog
        self.loras = loras
        self.faults = faults
        self.controlnet_on = controlnet_on
        self.regional_on = regional_on
        self.adetailer_on = adetailer_on
        self.ui = ui
        self.queue_lock = FIFOLock()
        self.state = State()
        self.tasks = Tasks()
        self.history: deque[dict[str, Any]] = deque(maxlen=100)
        self._history_lock = threading.Lock()
        self.reset()

    # --- lifecycle ---

    def reset(self) -> None:
        """Back to a fresh start: default options and model, no tasks, no history."""
        options = default_options()
        if self.controlnet_on and self.ui:  # on_ui_settings runs only when the UI is built
            options.update(CONTROLNET_OPTIONS)
            options["control_net_unit_count"] = self.unit_slots
        ckpt = self.catalog.default_checkpoint
        options["sd_model_checkpoint"] = ckpt.title
        options["sd_checkpoint_hash"] = ckpt.sha256
        self.options = options
        self.loaded: Checkpoint = ckpt
        self.loaded_vae: str | None = None
        self.state = State()
        self.tasks = Tasks()
        with self._history_lock:
            self.history.clear()

    def busy(self) -> bool:
        return self.state.job_count != 0

    def history_list(self) -> list[dict[str, Any]]:
        with self._history_lock:
            return copy.deepcopy(list(self.history))

    # --- model loading ---

    def _swap(self, ckpt: Checkpoint) -> None:
        if ckpt is not self.loaded:
            self.state.textinfo = f"Loading weights [{ckpt.shorthash}] from {ckpt.filename}"
            time.sleep(self.faults.swap_ms / 1000)
            self.loaded = ckpt
            self.state.textinfo = None

    def _vae_for(self, value: Any) -> str | None:
        return value if isinstance(value, str) and value in self.catalog.vaes else None

    def set_options(self, body: dict[str, Any]) -> None:
        """POST /sdapi/v1/options: exact checkpoint alias or 500; unknown keys KeyError."""
        name = body.get("sd_model_checkpoint")
        if name is not None and self.catalog.checkpoint(name) is None:
            raise runtime_error(f"model {name!r} not found")
        for key, value in body.items():
            if self.options.get(key) == value:
                continue
            if key not in self.options:
                raise runtime_error(repr(key), "KeyError")
            if key in RESTRICT_API:
                continue
            self.options[key] = value
            if key == "sd_model_checkpoint":
                ckpt = self.catalog.checkpoint(value)
                assert ckpt is not None
                with self.queue_lock:
                    self._swap(ckpt)
                self.options["sd_model_checkpoint"] = ckpt.title
                self.options["sd_checkpoint_hash"] = ckpt.sha256
            elif key == "sd_vae":
                with self.queue_lock:
                    self.loaded_vae = self._vae_for(value)

    def reload_checkpoint(self) -> None:
        with self.queue_lock:
            ckpt = self.catalog.checkpoint(self.options["sd_model_checkpoint"]) or self.loaded
            self._swap(ckpt)

    # --- generation ---

    def check_scripts(self, req: dict[str, Any], img2img: bool) -> None:
        """api.get_selectable_script / init_script_args: the 422s raised before queueing."""
        # script_name_to_index compares lower-cased titles
        titles = [
            t.lower()
            for t in script_titles(img2img, self.controlnet_on, self.regional_on, self.adetailer_on)
        ]
        selectable = selectable_titles(img2img, self.controlnet_on)
        name = req.get("script_name")
        if name and name.lower() not in selectable:
            raise http_error(422, f"Script '{name}' not found")
        for key in req.get("alwayson_scripts") or {}:
            title = str(key).lower()
            if title not in titles:
                # get_script -> script_name_to_index raises before init_script_args' own
                # "always on script ... not found" check, which is unreachable
                raise http_error(422, f"Script '{key}' not found")
            if title in selectable:
                raise http_error(
                    422, "Cannot have a selectable script in the always on scripts params"
                )

    def script_args(self, req: dict[str, Any], title: str, count: int) -> list[Any]:
        """Positional args of an always-on script, up to its arg count."""
        for key, value in (req.get("alwayson_scripts") or {}).items():
            if str(key).lower() == title and isinstance(value, dict):
                args = value.get("args")
                return list(args[:count]) if isinstance(args, list) else []
        return []

    def generate(
        self, kind: str, req: dict[str, Any], payload: Any, injected: ApiError | None
    ) -> dict[str, Any]:
        img2img = kind == "img2img"
        task_id = req.get("force_task_id") or create_task_id(kind)
        job = Job(
            kind, req, task_id, history=self.record(f"/sdapi/v1/{kind}", task_id, req, payload)
        )
        if req.get("styles"):
            # StableDiffusionProcessing.setup_prompts: styles.apply_styles_to_prompt
            job.request = req
            job.req = dict(req)
            job.req["prompt"], job.req["negative_prompt"] = extras.apply_styles(
                req.get("prompt") or "", req.get("negative_prompt") or "",
                [str(x) for x in req["styles"]], self.catalog.styles)  # fmt: skip
        try:
            # api.img2imgapi: init_images (404) and the mask decode come before any script check
            if img2img:
                if req["init_images"] is None:
                    raise http_error(404, "Init image not found")
                if req.get("mask"):
                    job.mask = render.decode_image(req["mask"])
            self.check_scripts(req, img2img)
            self.tasks.add(task_id)
            with self.queue_lock:
                self.tasks.start(task_id)
                job.history.update(status="running", started_at=time.time())
                self.state.begin(job="scripts_img2img" if img2img else "scripts_txt2img")
                try:
                    if injected is not None:
                        raise injected
                    response = self._process(job)
                    self.tasks.finish(task_id)
                finally:
                    self.state.end()
        except ApiError as exc:
            job.history.update(
                status="error", error=exc.errors or str(exc.detail), finished_at=time.time()
            )
            raise
        job.history["status"] = "interrupted" if self.state.interrupted else "ok"
        job.history["finished_at"] = time.time()
        return response

    def record(self, route: str, task_id: str, req: dict[str, Any], payload: Any) -> dict[str, Any]:
        """Append a request summary to the /sim/state history; the caller updates it."""
        entry = {
            "route": route,
            "task_id": task_id,
            "prompt": req.get("prompt"),
            "negative_prompt": req.get("negative_prompt"),
            "seed": req.get("seed"),
            "all_seeds": [],
            "checkpoint": None,
            "sampler_name": None,
            "status": "queued",
            "error": None,
            "images": 0,
            "received_at": time.time(),
            "started_at": None,  # set under the queue lock: the order jobs really ran in
            "finished_at": None,
            "payload": sanitize(payload),
        }
        with self._history_lock:
            self.history.append(entry)
        return entry

    def _apply_overrides(self, req: dict[str, Any]) -> dict[str, Any]:
        """processing.process_images' override_settings handling; returns effective options."""
        overrides = dict(req.get("override_settings") or {})
        target = self.catalog.checkpoint(overrides.get("sd_model_checkpoint"))
        if target is None:
            overrides.pop("sd_model_checkpoint", None)
            target = self.catalog.checkpoint(self.options["sd_model_checkpoint"]) or self.loaded
        opts = dict(self.options)
        for key, value in overrides.items():
            if key in RESTRICT_API or opts.get(key) == value:
                continue
            if key not in opts:
                raise runtime_error(repr(key), "KeyError")
            opts[key] = value
        self._swap(target)
        opts["sd_model_checkpoint"] = target.title
        self.loaded_vae = self._vae_for(opts.get("sd_vae"))
        if req.get("override_settings_restore_afterwards") is False:
            self.options.update(opts)
            self.options["sd_checkpoint_hash"] = target.sha256
        return opts

    def _loras(self, prompts: list[str], req: dict[str, Any]) -> list[tuple[str, str, float, str]]:
        """extra_networks.activate for lora: (mentioned name, shorthash, weight, file stem).

        The hash key is the name as written in the tag with ':' and ',' removed
        (extra_networks_lora.activate keys p.lora_hashes by mentioned_name). Any weight that
        does not parse fails the whole activate call, which extra_networks.activate catches:
        then no LoRA is applied at all. A miss rescans the folder (networks.load_networks).
        """
        if req.get("disable_extra_networks"):
            return []
        names: list[str] = []
        weights: list[float] = []
        for prompt in prompts:
            _, tags = parse_extra_networks(prompt)
            for tag in tags:
                if tag.kind not in ("lora", "lyco"):
                    continue
                try:
                    te, _unet, _dyn = lora_params(tag.items)
                except ValueError:
                    return []
                names.append(tag.items[0])
                weights.append(te)
        applied: dict[str, tuple[str, str, float, str]] = {}
        for name, weight, entry in zip(names, weights, self.loras.resolve_all(names), strict=True):
            if entry is None:
                continue
            key = name.replace(":", "").replace(",", "")
            applied[key] = (key, entry.shorthash(), weight, entry.name)
        return list(applied.values())

    def _control_units(
        self, job: Job
    ) -> tuple[list[controlnet.Unit], list[controlnet.Unit], str | None]:
        """ControlNet's process: (enabled units for the infotext, units applied, sampling error).

        Units beyond the start-up unit count are ignored. Runtime failures inside
        Script.process are caught by A1111's ScriptRunner.process: then no unit is applied
        (the hook is installed only after every unit succeeded) and no map is returned.
        """
        if not self.controlnet_on:
            return [], [], None
        raw = self.script_args(job.req, "controlnet", self.unit_slots)
        units = [controlnet.parse_unit(u) for u in raw if isinstance(u, dict)]
        enabled = [u for u in units if u.enabled]
        sampling_error = None
        for unit in enabled:
            # check_sd_version_compatible: by the model name as written in the request
            if "revision" in unit.module.lower() and self.loaded.base != "sdxl":
                return enabled, [], None
            if unit.model.lower() != "none" and not controlnet.versions_compatible(
                controlnet.model_sd_version(unit.model), self.loaded.base
            ):
                return enabled, [], None
            if not controlnet.MODULES[unit.module][1]:  # load_control_model
                if unit.model in (None, "", "None"):
                    return enabled, [], None  # "You have not selected any ControlNet Model."
                found = controlnet.find_model(unit.model, self.catalog.controlnet_models)
                if found is None:
                    return enabled, [], None  # "model not found: None"
                if not controlnet.versions_compatible(
                    controlnet.model_sd_version(found), self.loaded.base
                ):
                    # Not caught by the version check (the written name told nothing): the
                    # wrong-family model is hooked in and fails in the UNet (inferred).
                    sampling_error = "mat1 and mat2 shapes cannot be multiplied"
            if unit.image is None and not job.init_images:  # choose_input_image
                return enabled, [], None  # "controlnet is enabled but no input image is given"
        return enabled, enabled, sampling_error

    def _control_image(self, unit: controlnet.Unit, job: Job) -> Image.Image:
        image = unit.image
        if isinstance(image, dict):
            image = image.get("image")
        elif isinstance(image, list) and image:
            image = image[0]["image"] if isinstance(image[0], dict) else image[0]
        if image is None:
            return job.init_images[0]
        return render.decode_image(image)

    def _process(self, job: Job) -> dict[str, Any]:
        req, img2img = job.req, job.kind == "img2img"
        opts = self._apply_overrides(req)
        # processing.process_images_inner: the refiner is looked up first (closest match)
        refiner = None
        if req.get("refiner_checkpoint") not in (None, "", "None", "none"):
            refiner = self.catalog.closest_checkpoint(req["refiner_checkpoint"])
            if refiner is None:
                raise runtime_error(
                    f"Could not find checkpoint with name {req['refiner_checkpoint']}", "Exception"
                )
        batch_size, n_iter = req["batch_size"], req["n_iter"]
        width, height, steps = req["width"], req["height"], req["steps"]
        if None in (batch_size, n_iter, width, height, steps, req["cfg_scale"]):
            raise runtime_error(
                "'NoneType' object cannot be interpreted as an integer", "TypeError"
            )
        if img2img:
            job.init_images = [render.decode_image(i) for i in req["init_images"]]
            if not job.init_images:
                raise runtime_error("list index out of range", "IndexError")
            if len(job.init_images) > batch_size:
                raise runtime_error(
                    f"bad number of images passed: {len(job.init_images)}; expecting {batch_size} or less"
                )
            if len(job.init_images) > 1:
                batch_size = len(job.init_images)
        hires = not img2img and bool(req.get("enable_hr"))
        upscaler = req.get("hr_upscaler")
        final_w, final_h = self._final_size(req) if hires else (width, height)

        sampler, scheduler = resolve_sampler(req.get("sampler_name") or req.get("sampler_index"),
                                             req.get("scheduler"))  # fmt: skip
        total = batch_size * n_iter
        prompt = req.get("prompt") or ""
        seed = req["seed"] if req["seed"] not in (None, -1) else random.randrange(4294967294)
        subseed = (
            req["subseed"] if req["subseed"] not in (None, -1) else random.randrange(4294967294)
        )
        strength = req.get("subseed_strength") or 0
        all_seeds = [seed + (i if strength == 0 else 0) for i in range(total)]
        all_subseeds = [subseed + i for i in range(total)]
        job.history.update(all_seeds=all_seeds, checkpoint=self.loaded.title, sampler_name=sampler)

        # processing.process_images_inner: p.scripts.process (ControlNet, Regional Prompter) ...
        extra: dict[str, Any] = {}
        ad_tabs: list[dict[str, Any]] = []
        if self.adetailer_on:
            # ADetailer's Script.process; a ValidationError is caught by ScriptRunner.process
            ad_args = self.script_args(req, "adetailer", 2 + adetailer.MAX_MODELS)
            try:
                ad_params, ad_tabs = adetailer.process(ad_args)
                extra.update(ad_params)
            except adetailer.ArgsInvalid as exc:
                job.history["adetailer_error"] = str(exc)
        enabled_units, units, cn_sampling_error = self._control_units(job)
        for i, unit in enumerate(enabled_units):
            extra[f"ControlNet {i}"] = controlnet.infotext(unit)
        rp_plan = None
        if self.regional_on:
            rp_args = self.script_args(req, "regional prompter", len(RP_ARG_DEFAULTS))
            rp_plan = regional.plan(rp_args, prompt, final_w, final_h)
            if rp_plan is not None:
                extra.update(rp_plan.extra_params)
        # ... then p.init (hires / img2img parameters) ...
        shown: dict[str, Any] = {}  # values create_infotext computes from callables
        if hires:
            extra["Denoising strength"] = req.get("denoising_strength")
            hr_sampler_name = req.get("hr_sampler_name")
            # compared with p.sampler_name, which the API already resolved (legacy split)
            if hr_sampler_name is not None and hr_sampler_name != sampler:
                extra["Hires sampler"] = hr_sampler_name
            hr_prompt = req.get("hr_prompt") or prompt
            hr_negative = req.get("hr_negative_prompt") or req.get("negative_prompt") or ""
            extra["Hires prompt"] = None  # get_hr_prompt: a callable, null in Processed.js
            extra["Hires negative prompt"] = None
            shown["Hires prompt"] = hr_prompt if hr_prompt != prompt else None
            shown["Hires negative prompt"] = (
                hr_negative if hr_negative != (req.get("negative_prompt") or "") else None
            )
            extra["Hires schedule type"] = None  # set by get_sigmas in the hires pass
            if upscaler is not None and upscaler not in self.catalog.upscaler_names():
                raise runtime_error(f"could not find upscaler named {upscaler}", "Exception")
            if req.get("hr_resize_x") or req.get("hr_resize_y"):
                extra["Hires resize"] = f"{req['hr_resize_x']}x{req['hr_resize_y']}"
            else:
                extra["Hires upscale"] = req.get("hr_scale")
            if req.get("hr_second_pass_steps"):
                extra["Hires steps"] = req["hr_second_pass_steps"]
            if upscaler:
                extra["Hires upscaler"] = upscaler
        if img2img:
            extra["Denoising strength"] = req.get("denoising_strength")
            if job.mask is not None:  # StableDiffusionProcessingImg2Img.init, in its order
                if req.get("inpainting_mask_invert"):
                    extra["Mask mode"] = "Inpaint not masked"
                # mask_blur sets both axes; the property is None when they differ
                blur = req.get("mask_blur")
                bx = blur if blur is not None else (req.get("mask_blur_x") or 0)
                by = blur if blur is not None else (req.get("mask_blur_y") or 0)
                if bx > 0 or by > 0:
                    extra["Mask blur"] = bx if bx == by else None
                # inpaint_full_res (default on): only when the mask is not blank
                if req.get("inpaint_full_res", True) and job.mask.convert("L").getbbox():
                    extra["Inpaint area"] = "Only masked"
                    extra["Masked area padding"] = req.get("inpaint_full_res_padding") or 0
                fill = req.get("inpainting_fill")
                masked = {0: "fill", 2: "latent noise", 3: "latent nothing"}.get(fill)
                if masked:
                    extra["Masked content"] = masked
        # ... then, per batch, extra_networks.activate ...
        loras = self._loras([prompt], req)
        if loras and opts.get("lora_add_hashes_to_infotext", True):
            extra["Lora hashes"] = ", ".join(f"{name}: {h}" for name, h, _, _ in loras)
        # ... and the sampler's get_sigmas.
        schedule = kdiffusion_schedule(sampler, scheduler)
        if schedule is not None:
            extra["Schedule type"] = schedule
        # sd_samplers_common.apply_refiner: during sampling, once step/steps >= switch_at
        switch_at = req.get("refiner_switch_at")
        refiner_steps = [steps] + ([req.get("hr_second_pass_steps") or steps] if hires else [])
        refiner_used = (
            refiner is not None
            and refiner is not self.loaded
            and (switch_at is None or any(switch_at <= (n - 1) / n for n in refiner_steps if n))
        )
        if refiner_used:
            extra["Refiner"] = f"{refiner.stem} [{refiner.shorthash}]"
            extra["Refiner switch at"] = switch_at
        if hires:
            hr_sampler = req.get("hr_sampler_name") or sampler
            hr_sampler = hr_sampler if hr_sampler in SAMPLER_NAMES else sampler
            hr_schedule = kdiffusion_schedule(hr_sampler, req.get("hr_scheduler") or scheduler)
            if hr_schedule is not None and hr_schedule != extra.get("Schedule type"):
                extra["Hires schedule type"] = hr_schedule

        control_maps = [(unit, self._detected_map(unit, job, final_w, final_h)) for unit in units]
        hr_steps = req.get("hr_second_pass_steps") or steps
        if img2img:
            strength_ds = req.get("denoising_strength")
            strength_ds = 0.75 if strength_ds is None else strength_ds
            passes = [max(1, int(min(strength_ds, 0.999) * steps))]
        else:
            passes = [steps, hr_steps] if hires else [steps]
        self.state.job_count = n_iter * len(passes)

        def before_pass(index: int) -> None:
            if cn_sampling_error is not None:
                raise runtime_error(cn_sampling_error)
            if index == 1 and req.get("denoising_strength") is None:
                # The txt2img API default is None (models.py merge_class_params); the hires
                # pass's sd_samplers_common.setup_img2img_steps then compares it with 0.
                raise runtime_error(
                    "'>' not supported between instances of 'NoneType' and 'int'", "TypeError"
                )

        images: list[Image.Image] = []
        seeds_done: list[int] = []
        for n in range(n_iter):
            if self.state.skipped:
                self.state.skipped = False
            if self.state.interrupted or self.state.stopping_generation:
                break
            if n_iter > 1:
                self.state.job = f"Batch {n + 1} out of {n_iter}"
            keys = [self._render_key(job, opts, sampler, scheduler, all_seeds[n * batch_size + i],
                                     final_w, final_h, loras) for i in range(batch_size)]  # fmt: skip
            preview_size = (max(8, final_w // 8), max(8, final_h // 8))
            fraction = self._sample(passes, before_pass, opts, keys[0], preview_size)
            for i in range(batch_size):
                idx = n * batch_size + i
                img = self._render(job, keys[i], final_w, final_h, rp_plan, control_maps, i)
                images.append(render.partial(img, fraction))
                seeds_done.append(idx)

        infotext_extra = {**extra, **shown}
        infotexts = [
            self._infotext(
                req,
                opts,
                sampler,
                scheduler,
                all_seeds[i],
                all_subseeds[i],
                infotext_extra,
                width,
                height,
            )  # fmt: skip
            for i in seeds_done
        ]
        index_of_first = 0
        output = list(images)
        if req.get("save_images") and opts.get("return_grid", True) and len(images) >= 2:
            output.insert(0, render.make_grid(images))
            infotexts.insert(0, infotexts[0])
            index_of_first = 1
        fmt = str(opts.get("samples_format") or "png")
        pnginfo = opts.get("enable_pnginfo", True)
        encoded = [
            render.encode_image(img, infotexts[k] if pnginfo else None, fmt)
            for k, img in enumerate(output)
        ]
        encoded += [
            render.encode_image(dmap, None, "png")
            for unit, dmap in control_maps
            if unit.save_detected_map and not opts.get("control_net_no_detectmap")
        ]
        info = self._info(req, opts, sampler, all_seeds, all_subseeds, extra, infotexts,
                          index_of_first, batch_size, strength)  # fmt: skip
        job.history["images"] = len(encoded)
        if ad_tabs:
            # postprocess_image: an unknown ad_model raises there and is caught (image as is)
            known = [
                t for t in ad_tabs if t["ad_model"] != "None" and t["ad_model"] in adetailer.MODELS
            ]
            job.history["adetailer_models"] = [t["ad_model"] for t in known]
        if refiner_used:
            self._swap(refiner)  # the refiner stays loaded; the next job swaps back
        params = dict(job.request or req)
        if img2img and not req.get("include_init_images"):
            params["init_images"] = None
            params["mask"] = None
        return {
            "images": encoded if req.get("send_images", True) is not False else [],
            "parameters": params,
            "info": json.dumps(info),
        }

    def _final_size(self, req: dict[str, Any]) -> tuple[int, int]:
        w, h = req["width"], req["height"]
        rx, ry = req.get("hr_resize_x") or 0, req.get("hr_resize_y") or 0
        if rx == 0 and ry == 0:
            scale = req.get("hr_scale") or 2.0
            return int(w * scale), int(h * scale)
        if ry == 0:
            return rx, rx * h // w
        if rx == 0:
            return ry * w // h, ry
        return rx, ry

    def _sample(self, passes: list[int], before_pass: Any, opts: dict[str, Any], key: str,
                preview_size: tuple[int, int]) -> float:  # fmt: skip
        """Spend step_ms per step; returns the finished fraction (1.0 unless stopped).

        Each step leaves a "latent" the progress routes can turn into a live preview: the
        small test pattern, blurrier the less of it has been sampled.
        """
        done, total = 0, max(1, sum(passes))
        base = render.render_base(key, *preview_size)
        for index, pass_steps in enumerate(passes):
            before_pass(index)
            with self.state.lock:
                self.state.sampling_steps = pass_steps
                self.state.sampling_step = 0
            for step in range(pass_steps):
                if self.state.interrupted or self.state.skipped:
                    return done / total
                delay = self.faults.step_ms / 1000
                if delay:
                    time.sleep(delay)
                done += 1
                fraction = done / total
                with self.state.lock:
                    self.state.current_latent = lambda f=fraction: render.partial(base, f)
                    self.state.sampling_step = step + 1
            self.state.nextjob(opts)
        return 1.0

    def _detected_map(
        self, unit: controlnet.Unit, job: Job, width: int, height: int
    ) -> Image.Image:
        source = self._control_image(unit, job)
        detected = render.preprocess(controlnet.MODULES[unit.module][0], source, unit.processor_res, unit.threshold_a,
                                     unit.threshold_b)  # fmt: skip
        mode = {"Just Resize": 0, "Crop and Resize": 1, "Resize and Fill": 2}[unit.resize_mode]
        return render.resize_image(mode, detected, width, height)

    def _render_key(self, job: Job, opts: dict[str, Any], sampler: str, scheduler: str, seed: int,
                    width: int, height: int, loras: list[tuple[str, str, float, str]]) -> str:  # fmt: skip
        """Everything that decides the picture (LoRAs by file, not by the name written)."""
        req = job.req
        clean_prompt, _ = parse_extra_networks(req.get("prompt") or "")
        return "|".join(
            str(x)
            for x in (
                self.loaded.name, self.loaded_vae, clean_prompt, req.get("negative_prompt"), seed,
                req.get("subseed") if req.get("subseed_strength") else "", req.get("subseed_strength"),
                width, height, sampler, scheduler, req.get("steps"), req.get("cfg_scale"),
                sorted((stem, weight) for _, _, weight, stem in loras),
                opts.get("CLIP_stop_at_last_layers"),
            )
        )  # fmt: skip

    def _render(self, job: Job, key: str, width: int, height: int,
                rp_plan: regional.RegionPlan | None,
                control_maps: list[tuple[controlnet.Unit, Image.Image]], index: int) -> Image.Image:  # fmt: skip
        req = job.req
        img = render.render_base(key, width, height)
        if rp_plan is not None and rp_plan.boxes:
            img = render.tint_regions(img, rp_plan.boxes)
        for unit, dmap in control_maps:
            img = render.apply_control(img, dmap, unit.weight)
        if job.kind == "img2img":
            source = job.init_images[index] if len(job.init_images) > 1 else job.init_images[0]
            init = render.resize_image(req.get("resize_mode") or 0, source, width, height)
            strength = req.get("denoising_strength")
            blur = req.get("mask_blur")
            img = render.img2img_blend(
                init,
                img,
                0.75 if strength is None else strength,
                job.mask,
                blur if blur is not None else (req.get("mask_blur_x") or 0),
                bool(req.get("inpainting_mask_invert")),
            )
        return img

    def _model_params(self, opts: dict[str, Any]) -> dict[str, Any]:
        vae = self.loaded_vae
        return {
            "Model hash": self.loaded.shorthash
            if opts.get("add_model_hash_to_info", True)
            else None,
            "Model": self.loaded.stem if opts.get("add_model_name_to_info", True) else None,
            "VAE hash": self.catalog.vae_hash(vae)
            if vae and opts.get("add_vae_hash_to_info", True)
            else None,
            "VAE": vae if vae and opts.get("add_vae_name_to_info", True) else None,
        }

    def _infotext(self, req: dict[str, Any], opts: dict[str, Any], sampler: str, scheduler: str,
                  seed: int, subseed: int, extra: dict[str, Any], width: int, height: int) -> str:  # fmt: skip
        """processing.create_infotext."""
        strength = req.get("subseed_strength") or 0
        clip_skip = int(opts.get("CLIP_stop_at_last_layers") or 1)
        params: dict[str, Any] = {
            "Steps": req["steps"],
            "Sampler": sampler,
            "Schedule type": effective_schedule_label(sampler, scheduler),
            "CFG scale": req["cfg_scale"],
            "Image CFG scale": req.get("image_cfg_scale"),
            "Seed": seed,
            "Face restoration": opts.get("face_restoration_model")
            if req.get("restore_faces")
            else None,
            "Size": f"{width}x{height}",
            **self._model_params(opts),
            "Variation seed": subseed if strength else None,
            "Variation seed strength": strength or None,
            "Seed resize from": (
                f"{req['seed_resize_from_w']}x{req['seed_resize_from_h']}"
                if (req.get("seed_resize_from_w") or 0) > 0
                and (req.get("seed_resize_from_h") or 0) > 0
                else None
            ),
            # a fixed slot in create_infotext, filled from extra_generation_params
            "Denoising strength": extra.get("Denoising strength"),
            "Clip skip": clip_skip if clip_skip > 1 else None,
            "Tiling": True if req.get("tiling") else None,
            **extra,
            "Version": VERSION if opts.get("add_version_to_infotext", True) else None,
        }
        text = ", ".join(
            k if k == v else f"{k}: {quote(v)}" for k, v in params.items() if v is not None
        )
        negative = req.get("negative_prompt") or ""
        negative_text = f"\nNegative prompt: {negative}" if negative else ""
        return f"{req.get('prompt') or ''}{negative_text}\n{text}".strip()

    def _info(self, req: dict[str, Any], opts: dict[str, Any], sampler: str, all_seeds: list[int],
              all_subseeds: list[int], extra: dict[str, Any], infotexts: list[str],
              index_of_first: int, batch_size: int, strength: float) -> dict[str, Any]:  # fmt: skip
        """processing.Processed.js()."""
        total = len(all_seeds)
        prompt, negative = req.get("prompt") or "", req.get("negative_prompt") or ""
        restore = req.get("restore_faces")
        restore = opts.get("face_restoration", False) if restore is None else restore
        vae = self.loaded_vae
        return {
            "prompt": prompt,
            "all_prompts": [prompt] * total,
            "negative_prompt": negative,
            "all_negative_prompts": [negative] * total,
            "seed": all_seeds[0],
            "all_seeds": all_seeds,
            "subseed": all_subseeds[0],
            "all_subseeds": all_subseeds,
            "subseed_strength": strength,
            "width": req["width"],
            "height": req["height"],
            "sampler_name": sampler,
            "cfg_scale": req["cfg_scale"],
            "steps": req["steps"],
            "batch_size": batch_size,
            "restore_faces": restore,
            "face_restoration_model": opts.get("face_restoration_model") if restore else None,
            "sd_model_name": self.loaded.stem,
            "sd_model_hash": self.loaded.shorthash,
            "sd_vae_name": vae,
            "sd_vae_hash": self.catalog.vae_hash(vae) if vae else None,
            "seed_resize_from_w": req.get("seed_resize_from_w"),
            "seed_resize_from_h": req.get("seed_resize_from_h"),
            "denoising_strength": req.get("denoising_strength"),
            "extra_generation_params": extra,
            "index_of_first_image": index_of_first,
            "infotexts": infotexts,
            "styles": req.get("styles") or [],
            "job_timestamp": self.state.job_timestamp,
            "clip_skip": int(opts.get("CLIP_stop_at_last_layers") or 1),
            "is_using_inpainting_conditioning": False,
            "version": VERSION,
        }

    # --- progress ---

    def progress(self, skip_current_image: bool = False) -> dict[str, Any]:
        """GET /sdapi/v1/progress (api.progressapi), computed from one snapshot of the state."""
        st = self.state
        snap = st.as_dict()
        if snap["job_count"] == 0:
            return {"progress": 0.0, "eta_relative": 0.0, "state": snap, "current_image": None,
                    "textinfo": st.textinfo}  # fmt: skip
        job_count, steps = snap["job_count"], snap["sampling_steps"]
        progress = 0.01
        if job_count > 0:
            progress += snap["job_no"] / job_count
        if steps > 0:  # api.progressapi: no job_count guard on this term
            progress += 1 / job_count * snap["sampling_step"] / steps
        elapsed = time.time() - st.time_start
        eta = elapsed / progress
        st.set_current_image(self.options)
        current_image = None
        if st.current_image is not None and not skip_current_image:
            # api.encode_pil_to_base64 follows samples_format
            fmt = str(self.options.get("samples_format") or "png")
            current_image = render.encode_image(st.current_image, None, fmt)
        return {
            "progress": float(min(progress, 1)),  # ProgressResponse's fields are floats
            "eta_relative": float(eta - elapsed),
            "state": snap,
            "current_image": current_image,
            "textinfo": st.textinfo,
        }

    def task_progress(
        self, id_task: str | None, id_live_preview: int, live_preview: bool = True
    ) -> dict[str, Any]:
        """POST /internal/progress (modules.progress.progressapi)."""
        tasks = self.tasks
        active = id_task is not None and id_task == tasks.current
        queue = tasks.queue_order()
        queued = id_task in queue
        completed = id_task in tasks.finished
        base = {"active": active, "queued": queued, "completed": completed, "progress": None, "eta": None,
                "live_preview": None}  # fmt: skip
        if not active:
            textinfo = (
                f"In queue: {queue.index(id_task) + 1}/{len(queue)}" if queued else "Waiting..."
            )
            return {**base, "id_live_preview": -1, "textinfo": textinfo}
        st = self.state
        progress = 0.0
        if st.job_count > 0:
            progress += st.job_no / st.job_count
        if st.sampling_steps > 0 and st.job_count > 0:
            progress += 1 / st.job_count * st.sampling_step / st.sampling_steps
        progress = min(progress, 1)
        elapsed = time.time() - st.time_start
        eta = elapsed / progress - elapsed if progress > 0 else None
        preview = None
        if self.options.get("live_previews_enable", True) and live_preview:
            st.set_current_image(self.options)
            if st.id_live_preview != id_live_preview and st.current_image is not None:
                fmt = str(self.options.get("live_previews_image_format") or "png").lower()
                data = render.encode_image(st.current_image, None, fmt)
                preview = f"data:image/{fmt};base64,{data}"
                id_live_preview = st.id_live_preview
        return {**base, "progress": progress, "eta": eta, "live_preview": preview,
                "id_live_preview": id_live_preview, "textinfo": st.textinfo}  # fmt: skip
