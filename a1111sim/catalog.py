"""The simulated server's model set: checkpoints, VAEs, samplers, upscalers, ControlNet...

Everything a real A1111 v1.10.1 (+ ControlNet v1.1.455 + Regional Prompter) lists from its
model folders is defined here, so the list routes answer with realistic names and hashes.

``--models-json FILE`` replaces parts of the default set. The file is a JSON object with any
of these keys (missing keys keep the built-in default)::

    {
      "checkpoints": [                       # relative path under models/Stable-diffusion
        {"name": "animefull_final.safetensors", "base": "sd1",   # base: sd1 | sd2 | sdxl
         "sha256": "<64 hex, optional: derived from the name>", "config": null}
      ],                                     # base defaults to sd_version_from_name(name)
      "default_checkpoint": "animefull_final.safetensors",   # loaded at start (a name)
      "vaes": ["vae-ft-mse-840000-ema-pruned.safetensors"],
      "embeddings": [{"name": "EasyNegative", "base": "sd1", "vectors": 8}],
      "controlnet_models": ["control_v11p_sd15_canny [d14c016b]"],
      "extra_upscalers": ["4x-UltraSharp"]     # ESRGAN-type models found on disk
    }
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WEBUI_ROOT = "/opt/stable-diffusion-webui"
VERSION = "v1.10.1"

DEFAULT_STYLES: list[dict[str, Any]] = [
    {"name": "Cinematic", "prompt": "cinematic still {prompt}, shallow depth of field, film grain",
     "negative_prompt": "cartoon, painting, illustration"},
    {"name": "Anime", "prompt": "anime artwork, {prompt}, key visual, vibrant",
     "negative_prompt": "photo, realistic"},
    {"name": "Watercolor", "prompt": "watercolor painting, soft edges", "negative_prompt": ""},
]  # fmt: skip
DEFAULT_HYPERNETWORKS = ["anime_lineart_v2", "pixel_art_hn"]

DEFAULT_MODELS: dict[str, Any] = {
    "checkpoints": [
        {"name": "animefull_final.safetensors", "base": "sd1"},
        {"name": "v1-5-pruned-emaonly.safetensors", "base": "sd1"},
        {"name": "realisticVision_v51.safetensors", "base": "sd1"},
        {"name": "sd_xl_base_1.0.safetensors", "base": "sdxl"},
        {"name": "SDXL/ponyDiffusionV6XL.safetensors", "base": "sdxl"},
    ],
    "default_checkpoint": "animefull_final.safetensors",
    "vaes": [
        "vae-ft-mse-840000-ema-pruned.safetensors",
        "kl-f8-anime2.ckpt",
        "sdxl_vae.safetensors",
    ],
    "embeddings": [
        {"name": "EasyNegative", "base": "sd1", "vectors": 8},
        {"name": "badhandv4", "base": "sd1", "vectors": 6},
        {"name": "negativeXL_D", "base": "sdxl", "vectors": 1},
    ],
    "controlnet_models": [
        "control_openpose-fp16 [9ca67cc5]",
        "control_v11p_sd15_canny [d14c016b]",
        "control_v11f1p_sd15_depth [cfd03158]",
        "control_v11p_sd15_lineart [43d4be0d]",
        "control_v11p_sd15_openpose [cab727d4]",
        "control_v11p_sd15_softedge [a8575a2a]",
        "control_v11p_sd15_scribble [d4ba51ff]",
        "control_v11f1e_sd15_tile [a371b31b]",
        "ip-adapter_sd15 [6a3f6166]",
        "diffusers_xl_canny_mid [112a778d]",
    ],
    "extra_upscalers": ["4x-UltraSharp"],
}


def sd_version_from_name(name: str) -> str:
    """The simulator's naming rule for a checkpoint's family (A1111 reads it from the weights).

    "xl" anywhere in the path (case-insensitive) is SDXL, "sd2"/"sd21"/"v2-"/"2.1"/"768-v" is
    SD2, anything else SD1.5. The default catalog's names follow it, so a client can tell the
    family of every listed checkpoint from ``/sdapi/v1/sd-models`` alone.
    """
    lower = name.lower()
    if "xl" in lower:
        return "sdxl"
    if any(k in lower for k in ("sd2", "sd_2", "v2-", "2.1", "768-v")):
        return "sd2"
    return "sd1"


def fake_sha256(name: str) -> str:
    """A stable stand-in for a model file's sha256, derived from its name."""
    return hashlib.sha256(f"a1111sim:{name}".encode()).hexdigest()


@dataclass
class Checkpoint:
    """One checkpoint, with every identifier A1111 accepts for it (sd_models.CheckpointInfo)."""

    name: str
    base: str = "sd1"
    sha256: str = ""
    config: str | None = None

    def __post_init__(self) -> None:
        self.sha256 = self.sha256 or fake_sha256(self.name)

    @property
    def shorthash(self) -> str:
        return self.sha256[:10]

    @property
    def legacy_hash(self) -> str:
        return hashlib.sha256(f"legacy:{self.name}".encode()).hexdigest()[:8]

    @property
    def title(self) -> str:
        return f"{self.name} [{self.shorthash}]"

    @property
    def stem(self) -> str:
        """name_for_extra: the file stem, what infotexts call the model."""
        return Path(self.name).stem

    @property
    def model_name(self) -> str:
        return re.sub(r"\.[^.]+$", "", self.name.replace("/", "_").replace("\\", "_"))

    @property
    def filename(self) -> str:
        return f"{WEBUI_ROOT}/models/Stable-diffusion/{self.name}"

    def aliases(self) -> list[str]:
        return [
            self.legacy_hash,
            self.model_name,
            self.title,
            self.name,
            self.stem,
            f"{self.name} [{self.legacy_hash}]",
            self.shorthash,
            self.sha256,
            f"{self.stem} [{self.shorthash}]",
        ]

    def api_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "model_name": self.model_name,
            "hash": self.shorthash,
            "sha256": self.sha256,
            "filename": self.filename,
            "config": self.config,
        }


@dataclass
class Catalog:
    """The model set one simulator instance serves."""

    checkpoints: list[Checkpoint]
    default_checkpoint: Checkpoint
    vaes: list[str]
    embeddings: list[dict[str, Any]]
    controlnet_models: list[str]
    extra_upscalers: list[str]
    aliases: dict[str, Checkpoint] = field(default_factory=dict)
    styles: list[dict[str, Any]] = field(default_factory=list)
    hypernetworks: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for ckpt in self.checkpoints:
            for alias in ckpt.aliases():
                self.aliases.setdefault(alias, ckpt)

    def checkpoint(self, alias: Any) -> Checkpoint | None:
        """Exact alias lookup (sd_models.checkpoint_aliases), None when unknown."""
        return self.aliases.get(alias) if isinstance(alias, str) else None

    def closest_checkpoint(self, name: Any) -> Checkpoint | None:
        """sd_models.get_closet_checkpoint_match: an alias, else the shortest title containing it."""
        if not isinstance(name, str):
            return None
        hit = self.checkpoint(name)
        if hit is not None:
            return hit
        found = sorted((c for c in self.checkpoints if name in c.title), key=lambda c: len(c.title))
        return found[0] if found else None

    def vae_hash(self, vae: str) -> str:
        return fake_sha256(f"vae:{vae}")[:10]

    def upscalers(self) -> list[dict[str, Any]]:
        return upscaler_list(self.extra_upscalers)

    def upscaler_names(self) -> set[str]:
        return {u["name"] for u in self.upscalers()} | set(LATENT_UPSCALE_MODES)


def load_catalog(models_json: str | None) -> Catalog:
    data = dict(DEFAULT_MODELS)
    if models_json:
        data.update(json.loads(Path(models_json).read_text(encoding="utf-8")))
    checkpoints = [
        Checkpoint(
            name=c["name"],
            base=c.get("base") or sd_version_from_name(c["name"]),
            sha256=c.get("sha256") or "",
            config=c.get("config"),
        )
        for c in data["checkpoints"]
    ]
    if not checkpoints:
        raise ValueError("models json: at least one checkpoint is needed")
    by_name = {c.name: c for c in checkpoints}
    default = by_name.get(data.get("default_checkpoint", ""), checkpoints[0])
    return Catalog(
        checkpoints=checkpoints,
        default_checkpoint=default,
        vaes=list(data["vaes"]),
        embeddings=list(data["embeddings"]),
        controlnet_models=list(data["controlnet_models"]),
        extra_upscalers=list(data.get("extra_upscalers", [])),
        styles=list(data.get("styles", DEFAULT_STYLES)),
        hypernetworks=list(data.get("hypernetworks", DEFAULT_HYPERNETWORKS)),
    )


# --- samplers and schedulers (modules/sd_samplers_*.py, sd_schedulers.py in v1.10) ---

SAMPLERS: list[tuple[str, list[str], dict[str, Any]]] = [
    ("DPM++ 2M", ["k_dpmpp_2m"], {"scheduler": "karras"}),
    (
        "DPM++ SDE",
        ["k_dpmpp_sde"],
        {"scheduler": "karras", "second_order": True, "brownian_noise": True},
    ),
    ("DPM++ 2M SDE", ["k_dpmpp_2m_sde"], {"scheduler": "exponential", "brownian_noise": True}),
    (
        "DPM++ 2M SDE Heun",
        ["k_dpmpp_2m_sde_heun"],
        {"scheduler": "exponential", "brownian_noise": True, "solver_type": "heun"},
    ),
    (
        "DPM++ 2S a",
        ["k_dpmpp_2s_a"],
        {"scheduler": "karras", "uses_ensd": True, "second_order": True},
    ),
    (
        "DPM++ 3M SDE",
        ["k_dpmpp_3m_sde"],
        {"scheduler": "exponential", "discard_next_to_last_sigma": True, "brownian_noise": True},
    ),
    ("Euler a", ["k_euler_a", "k_euler_ancestral"], {"uses_ensd": True}),
    ("Euler", ["k_euler"], {}),
    ("LMS", ["k_lms"], {}),
    ("Heun", ["k_heun"], {"second_order": True}),
    (
        "DPM2",
        ["k_dpm_2"],
        {"scheduler": "karras", "discard_next_to_last_sigma": True, "second_order": True},
    ),
    (
        "DPM2 a",
        ["k_dpm_2_a"],
        {
            "scheduler": "karras",
            "discard_next_to_last_sigma": True,
            "uses_ensd": True,
            "second_order": True,
        },
    ),
    ("DPM fast", ["k_dpm_fast"], {"uses_ensd": True}),
    ("DPM adaptive", ["k_dpm_ad"], {"uses_ensd": True}),
    ("Restart", ["restart"], {"scheduler": "karras", "second_order": True}),
    ("DDIM", ["ddim"], {}),
    ("DDIM CFG++", ["ddim_cfgpp"], {}),
    ("PLMS", ["plms"], {}),
    ("UniPC", ["unipc"], {}),
    ("LCM", ["k_lcm"], {}),
]
SAMPLER_NAMES = [s[0] for s in SAMPLERS]
SAMPLER_OPTIONS = {s[0]: s[2] for s in SAMPLERS}

# (name, label, aliases, default_rho, need_inner_model)
SCHEDULERS: list[tuple[str, str, list[str] | None, float, bool]] = [
    ("automatic", "Automatic", None, -1, False),
    ("uniform", "Uniform", None, -1, True),
    ("karras", "Karras", None, 7.0, False),
    ("exponential", "Exponential", None, -1, False),
    ("polyexponential", "Polyexponential", None, 1.0, False),
    ("sgm_uniform", "SGM Uniform", ["SGMUniform"], -1, True),
    ("kl_optimal", "KL Optimal", None, -1, False),
    ("align_your_steps", "Align Your Steps", None, -1, False),
    ("simple", "Simple", None, -1, True),
    ("normal", "Normal", None, -1, True),
    ("ddim", "DDIM", None, -1, True),
    ("beta", "Beta", None, -1, True),
]


def sampler_list() -> list[dict[str, Any]]:
    return [
        {"name": n, "aliases": a, "options": {k: str(v) for k, v in o.items()}}
        for n, a, o in SAMPLERS
    ]


def scheduler_list() -> list[dict[str, Any]]:
    return [
        {
            "name": n,
            "label": lbl,
            "aliases": a,
            "default_rho": float(rho),
            "need_inner_model": inner,
        }
        for n, lbl, a, rho, inner in SCHEDULERS
    ]


def _scheduler_by_any(name: str | None) -> tuple[str, str] | None:
    for n, label, aliases, _, _ in SCHEDULERS:
        if name in (n, label, *(aliases or [])):
            return n, label
    return None


def resolve_sampler(sampler_name: str | None, scheduler: str | None) -> tuple[str, str]:
    """sd_samplers.get_sampler_and_scheduler: returns (sampler name, scheduler label).

    A trailing scheduler label/name is split off the sampler name, unknown samplers fall
    back to the first sampler (DPM++ 2M) silently, and a scheduler equal to the sampler's
    own default is reported as Automatic.
    """
    # sd_schedulers.schedulers_map is keyed by name and label only (no aliases)
    found = next(((n, lbl) for n, lbl, *_ in SCHEDULERS if scheduler in (n, lbl)), None)
    found = found or ("automatic", "Automatic")
    name = sampler_name or SAMPLER_NAMES[0]
    for n, label, aliases, _, _ in SCHEDULERS:
        for option in (label, n, *(aliases or [])):
            if name.endswith(" " + option):
                found = (n, label)
                name = name[: -(len(option) + 1)]
                break
    sampler = name if name in SAMPLER_OPTIONS else SAMPLER_NAMES[0]
    if SAMPLER_OPTIONS[sampler].get("scheduler") == found[0]:
        found = ("automatic", "Automatic")
    return sampler, found[1]


# modules/sd_samplers_timesteps.py: these never compute sigmas, so never write "Schedule type"
TIMESTEP_SAMPLERS = {"DDIM", "DDIM CFG++", "PLMS", "UniPC"}


def kdiffusion_schedule(sampler: str, scheduler: str | None) -> str | None:
    """KDiffusionSampler.get_sigmas: the label it writes to extra_generation_params, or None.

    ``scheduler`` is a name or label ("Automatic"/None = the sampler's own default); nothing is
    written for timestep samplers, for the automatic schedule or an unknown name.
    """
    if sampler in TIMESTEP_SAMPLERS:
        return None
    name = scheduler or "Automatic"
    if name == "Automatic":
        name = SAMPLER_OPTIONS.get(sampler, {}).get("scheduler")
    hit = next(((n, lbl) for n, lbl, *_ in SCHEDULERS if name in (n, lbl)), None)
    if hit is None or hit[0] == "automatic":
        return None
    return hit[1]


def effective_schedule_label(sampler: str, scheduler_label: str) -> str:
    """The schedule the sampler really uses (its default when Automatic), for infotexts."""
    if scheduler_label != "Automatic":
        return scheduler_label
    default = SAMPLER_OPTIONS.get(sampler, {}).get("scheduler")
    hit = _scheduler_by_any(default) if default else None
    return hit[1] if hit else "Automatic"


# --- upscalers ---

LATENT_UPSCALE_MODES = [
    "Latent",
    "Latent (antialiased)",
    "Latent (bicubic)",
    "Latent (bicubic antialiased)",
    "Latent (nearest)",
    "Latent (nearest-exact)",
]

_BUILTIN_UPSCALERS: list[tuple[str, str | None, str | None]] = [
    ("None", None, None),
    ("Lanczos", None, None),
    ("Nearest", None, None),
    ("DAT x2", "DAT", "https://github.com/n0kovo/dat_upscaler_models/raw/main/DAT/DAT_x2.pth"),
    ("DAT x3", "DAT", "https://github.com/n0kovo/dat_upscaler_models/raw/main/DAT/DAT_x3.pth"),
    ("DAT x4", "DAT", "https://github.com/n0kovo/dat_upscaler_models/raw/main/DAT/DAT_x4.pth"),
    ("ESRGAN_4x", "ESRGAN", "https://github.com/cszn/KAIR/releases/download/v1.0/ESRGAN.pth"),
    ("LDSR", "LDSR", "https://heibox.uni-heidelberg.de/f/578df07c8fc04ffbadf3/?dl=1"),
    (
        "R-ESRGAN 4x+",
        "RealESRGAN",
        "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth",
    ),
    (
        "R-ESRGAN 4x+ Anime6B",
        "RealESRGAN",
        "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.2.4/RealESRGAN_x4plus_anime_6B.pth",
    ),
    (
        "ScuNET GAN",
        "ScuNET",
        "https://github.com/cszn/KAIR/releases/download/v1.0/scunet_color_real_gan.pth",
    ),
    (
        "ScuNET PSNR",
        "ScuNET",
        "https://github.com/cszn/KAIR/releases/download/v1.0/scunet_color_real_psnr.pth",
    ),
    (
        "SwinIR 4x",
        "SwinIR",
        "https://github.com/JingyunLiang/SwinIR/releases/download/v0.0/003_realSR_BSRGAN_DFOWMFC_s64w8_SwinIR-L_x4_GAN.pth",
    ),
]


def upscaler_list(extra: list[str]) -> list[dict[str, Any]]:
    items = [
        {"name": n, "model_name": m, "model_path": p, "model_url": None, "scale": 4.0}
        for n, m, p in _BUILTIN_UPSCALERS[:3]
    ]
    items += [
        {
            "name": n,
            "model_name": "ESRGAN",
            "model_path": f"{WEBUI_ROOT}/models/ESRGAN/{n}.pth",
            "model_url": None,
            "scale": 4.0,
        }
        for n in extra
    ]
    items += [
        {"name": n, "model_name": m, "model_path": p, "model_url": None, "scale": 4.0}
        for n, m, p in _BUILTIN_UPSCALERS[3:]
    ]
    return items


# --- scripts (GET /sdapi/v1/scripts, script-info) ---

SELECTABLE_TXT2IMG = ["prompt matrix", "prompts from file or textbox", "x/y/z plot"]
SELECTABLE_IMG2IMG = [
    "img2img alternative test",
    "loopback",
    "outpainting mk2",
    "poor man's outpainting",
    "prompt matrix",
    "prompts from file or textbox",
    "sd upscale",
    "x/y/z plot",
]
# Always-on scripts of the webui itself, in load order: scripts/ and the built-in extensions
# first, the processing scripts (refiner, sampler, seed) after every extension's. Hypertile's
# class sets `name`, so it keeps its capital in /scripts; v1.10.1 has no "comments" script.
ALWAYSON_EARLY = ["extra options", "Hypertile"]
ALWAYSON_LATE = ["refiner", "sampler", "seed"]
CONTROLNET_SELECTABLE = "controlnet m2m"  # the extension's selectable script

RP_ARG_DEFAULTS: list[Any] = [
    False, False, "Matrix", "Columns", "Mask", "Prompt", "1,1", "0.2", False, False,
    False, "Attention", [], "0", "0", "0.4", "", "0", "0", False,
]  # fmt: skip
RP_ARG_LABELS = [
    "Active", "debug", "Divide mode", "Matrix submode", "Mask submode", "Prompt submode",
    "Divide Ratio", "Base Ratio", "Use base prompt", "Use common prompt",
    "Use common negative prompt", "Generation mode", "Options", "LoRA in negative textencoder",
    "LoRA in negative U-net", "threshold", "Mask", "LoRA stop step", "LoRA Hires stop step",
    "flip",
]  # fmt: skip


def script_titles(
    img2img: bool, controlnet: bool, regional: bool, adetailer: bool = False
) -> list[str]:
    """/sdapi/v1/scripts: every script's name in load order (extensions in folder order)."""
    names = list(SELECTABLE_IMG2IMG if img2img else SELECTABLE_TXT2IMG) + ALWAYSON_EARLY
    if img2img:
        names.append("soft inpainting")
    if adetailer:
        names.append("adetailer")
    if controlnet:
        names += ["controlnet", CONTROLNET_SELECTABLE]
    if regional:
        names.append("regional prompter")
    return names + ALWAYSON_LATE


def selectable_titles(img2img: bool, controlnet: bool) -> list[str]:
    """The scripts `script_name` may name (lower-cased titles)."""
    names = list(SELECTABLE_IMG2IMG if img2img else SELECTABLE_TXT2IMG)
    return names + ([CONTROLNET_SELECTABLE] if controlnet else [])


def _arg(label: str, value: Any, choices: list[str] | None = None, **rng: Any) -> dict[str, Any]:
    return {
        "label": label,
        "value": value,
        "minimum": rng.get("minimum"),
        "maximum": rng.get("maximum"),
        "step": rng.get("step"),
        "choices": choices,
    }


@functools.cache
def _captured_script_info() -> dict[str, Any]:
    path = Path(__file__).with_name("script_info.json")
    return json.loads(path.read_text(encoding="utf-8"))


def script_info(controlnet: bool, regional: bool, unit_count: int, adetailer: bool = False,
                ad_tabs: int = 2) -> list[dict[str, Any]]:  # fmt: skip
    """/sdapi/v1/script-info: the webui's own scripts as a real v1.10.1 answers them
    (script_info.json), the extensions' built from their arg layouts; in /scripts order,
    without Hypertile (it has no API info)."""
    captured = _captured_script_info()
    out: list[dict[str, Any]] = []
    for is_img2img in (False, True):
        own = {s["name"]: s for s in captured["builtin"] if s["is_img2img"] == is_img2img}
        for title in script_titles(is_img2img, controlnet, regional, adetailer):
            entry = {"name": title, "is_alwayson": True, "is_img2img": is_img2img}
            if title in own:
                entry = copy.deepcopy(own[title])
                if title == "x/y/z plot" and not controlnet:  # the extension adds axes
                    for arg in entry["args"]:
                        if arg["choices"]:
                            arg["choices"] = [c for c in arg["choices"] if "[ControlNet]" not in c]
            elif title == "adetailer":  # adetailer/ui.py adui: [enable, skip_img2img, *tabs]
                entry["args"] = [_arg("Enable ADetailer", False), _arg("Skip img2img", False)] + [
                    _arg(f"ADetailer tab {i + 1}", None) for i in range(ad_tabs)
                ]
            elif title == "controlnet":  # one ControlNetUnit (as a dict) per slot
                entry["args"] = [
                    copy.deepcopy(captured["controlnet_unit"]) for _ in range(unit_count)
                ]
            elif title == CONTROLNET_SELECTABLE:
                entry["is_alwayson"] = False
                entry["args"] = copy.deepcopy(
                    captured["controlnet_m2m_unit"] * unit_count + captured["controlnet_m2m_tail"]
                )
            elif title == "regional prompter":
                choices = {
                    2: ["Matrix", "Mask", "Prompt"],
                    3: ["Columns", "Rows", "Random"],
                    11: ["Attention", "Latent"],
                }
                entry["args"] = [
                    _arg(label, RP_ARG_DEFAULTS[i], choices.get(i))
                    for i, label in enumerate(RP_ARG_LABELS)
                ]
            else:  # no API info (Hypertile)
                continue
            out.append(entry)
    return out


def extensions_list(
    controlnet: bool, regional: bool, adetailer: bool = False
) -> list[dict[str, Any]]:
    items = []
    if adetailer:
        items.append(
            {
                "name": "adetailer",
                "remote": "https://github.com/Bing-su/adetailer.git",
                "branch": "main",
                "commit_hash": "25e7509fe018de8aa063a5f1902598f5eda0c06c",
                "version": "25e7509f",
                "commit_date": "1730971200",
                "enabled": True,
            }
        )
    if controlnet:
        items.append(
            {
                "name": "sd-webui-controlnet",
                "remote": "https://github.com/Mikubill/sd-webui-controlnet.git",
                "branch": "main",
                "commit_hash": "56cec5b2958edf3b1807b7e7b2b1b5186dbd2f81",
                "version": "56cec5b2",
                "commit_date": "1722215011",
                "enabled": True,
            }
        )
    if regional:
        items.append(
            {
                "name": "sd-webui-regional-prompter",
                "remote": "https://github.com/hako-mikan/sd-webui-regional-prompter.git",
                "branch": "main",
                "commit_hash": "be623452a1cbed5d4a1ea1e40d4d7e6c1e3b5f0d",
                "version": "be623452",
                "commit_date": "1749600000",
                "enabled": True,
            }
        )
    return items


def default_options() -> dict[str, Any]:
    """Every A1111 v1.10 option with its default, as captured in the OpenAPI Options model."""
    path = Path(__file__).with_name("options_defaults.json")
    return json.loads(path.read_text(encoding="utf-8"))


CONTROLNET_OPTIONS: dict[str, Any] = {
    "control_net_detectedmap_dir": "detected_maps",
    "control_net_models_path": "",
    "control_net_modules_path": "",
    "control_net_unit_count": 3,
    "control_net_model_cache_size": 2,
    "control_net_inpaint_blur_sigma": 7,
    "control_net_no_detectmap": False,
    "control_net_detectmap_autosaving": False,
    "control_net_allow_script_control": False,
    "control_net_sync_field_args": True,
    "controlnet_show_batch_images_in_ui": False,
    "controlnet_increment_seed_during_batch": False,
    "controlnet_disable_openpose_edit": False,
    "controlnet_disable_photopea_edit": False,
    "controlnet_photopea_warning": True,
    "controlnet_ignore_noninpaint_mask": False,
    "controlnet_clip_detector_on_cpu": False,
    "controlnet_control_type_dropdown": False,
}
