"""LoRA files: listing from a real folder, sample files, and ``<lora:...>`` prompt tags.

Mirrors A1111's built-in Lora extension: the listing reads only each safetensors header,
names resolve exactly (case-sensitive) by file stem or ``ss_output_name`` alias, a miss
rescans the folder once, and a LoRA still missing is silently ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LORA_EXTENSIONS = (".safetensors", ".pt", ".ckpt")
METADATA_ORDER = {
    "ss_sd_model_name": 1,
    "ss_resolution": 2,
    "ss_clip_skip": 3,
    "ss_num_train_images": 10,
    "ss_tag_frequency": 20,
}
RE_EXTRA_NET = re.compile(r"<(\w+):([^>]+)>")


def read_safetensors_metadata(path: Path) -> dict[str, Any]:
    """sd_models.read_metadata_from_safetensors: header only; JSON-looking values decoded."""
    with path.open("rb") as f:
        length = int.from_bytes(f.read(8), "little")
        start = f.read(2)
        if length <= 2 or start not in (b'{"', b"{'"):
            raise ValueError(f"{path} is not a safetensors file")
        header = json.loads(start + f.read(length - 2))
    res: dict[str, Any] = {}
    for key, value in (header.get("__metadata__") or {}).items():
        res[key] = value
        if isinstance(value, str) and value[:1] == "{":
            try:
                res[key] = json.loads(value)
            except ValueError:
                pass
    return res


def addnet_hash(path: Path) -> str:
    """sha256 of the tensor payload (everything after the header): A1111's LoRA hash."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        length = int.from_bytes(f.read(8), "little")
        f.seek(8 + length)
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _natural_key(text: str) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


@dataclass
class LoraFile:
    name: str
    path: Path
    metadata: dict[str, Any]
    is_safetensors: bool
    _hash: str | None = field(default=None, repr=False)

    @property
    def alias(self) -> str:
        value = self.metadata.get("ss_output_name", self.name)
        return value if isinstance(value, str) else self.name

    def shorthash(self) -> str:
        """12-hex short hash, from sshs_model_hash or (lazily, like A1111) the payload."""
        if self._hash is None:
            meta_hash = self.metadata.get("sshs_model_hash")
            if isinstance(meta_hash, str) and meta_hash:
                self._hash = meta_hash
            elif self.is_safetensors:
                try:
                    self._hash = addnet_hash(self.path)
                except OSError:
                    self._hash = ""
            else:
                self._hash = hashlib.sha256(self.path.read_bytes()).hexdigest()
        return self._hash[:12]

    def api_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "alias": self.alias,
            "path": str(self.path),
            "metadata": self.metadata,
        }


class LoraLibrary:
    """The LoRAs found in ``--lora-dir``; rescanned on refresh-loras."""

    def __init__(self, lora_dir: str | None) -> None:
        self.lora_dir = Path(lora_dir).resolve() if lora_dir else None
        self._lock = threading.Lock()
        self.by_name: dict[str, LoraFile] = {}
        self.by_alias: dict[str, LoraFile] = {}
        self.refresh()

    def refresh(self) -> None:
        found: dict[str, LoraFile] = {}
        if self.lora_dir and self.lora_dir.is_dir():
            for root, _dirs, files in sorted(
                os.walk(self.lora_dir), key=lambda w: _natural_key(w[0])
            ):
                for fname in sorted(files, key=_natural_key):
                    if not fname.lower().endswith(LORA_EXTENSIONS):
                        continue
                    path = Path(root) / fname
                    entry = self._load(path)
                    if entry is not None:
                        found[entry.name] = entry
        aliases: dict[str, LoraFile] = {}
        forbidden: set[str] = set()
        for entry in found.values():
            if entry.alias in aliases and aliases[entry.alias] is not entry:
                forbidden.add(entry.alias)
            aliases[entry.alias] = entry
        for alias in forbidden:
            aliases.pop(alias, None)
        aliases.pop("none", None)
        with self._lock:
            self.by_name, self.by_alias = found, aliases

    @staticmethod
    def _load(path: Path) -> LoraFile | None:
        try:
            path.stat()
        except OSError:
            return None
        is_st = path.suffix.lower() == ".safetensors"
        metadata: dict[str, Any] = {}
        if is_st:
            try:
                metadata = read_safetensors_metadata(path)
            except (OSError, ValueError, UnicodeDecodeError):
                metadata = {}  # A1111 logs the error and lists the file without metadata
        ordered = dict(sorted(metadata.items(), key=lambda kv: METADATA_ORDER.get(kv[0], 999)))
        return LoraFile(name=path.stem, path=path.resolve(), metadata=ordered, is_safetensors=is_st)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [e.api_json() for e in self.by_name.values()]

    def resolve(self, name: str) -> LoraFile | None:
        with self._lock:
            return self.by_name.get(name) or self.by_alias.get(name)

    def resolve_all(self, names: list[str]) -> list[LoraFile | None]:
        """networks.load_networks: any miss rescans the folder (list_available_networks) once."""
        found = [self.resolve(n) for n in names]
        if any(f is None for f in found):
            self.refresh()
            found = [self.resolve(n) for n in names]
        return found


@dataclass
class ExtraNetworkTag:
    kind: str
    items: list[str]


def parse_extra_networks(prompt: str) -> tuple[str, list[ExtraNetworkTag]]:
    """extra_networks.parse_prompt: strips every ``<kind:args>`` tag from the prompt."""
    tags: list[ExtraNetworkTag] = []

    def found(m: re.Match[str]) -> str:
        tags.append(ExtraNetworkTag(m.group(1), m.group(2).split(":")))
        return ""

    return RE_EXTRA_NET.sub(found, prompt), tags


def lora_params(items: list[str]) -> tuple[float, float, int | None]:
    """extra_networks_lora.ExtraNetworkLora.activate: (te, unet, dyn) from a tag's items.

    ExtraNetworkParams splits items into positional and ``key=value`` named ones; ``te``
    defaults to 1.0, ``unet`` to ``te``. A value that does not parse raises ValueError.
    """
    positional = [i for i in items if "=" not in i]
    named = dict(i.split("=", 1) for i in items if "=" in i)
    te = float(positional[1]) if len(positional) > 1 else 1.0
    te = float(named.get("te", te))
    unet = float(positional[2]) if len(positional) > 2 else te
    unet = float(named.get("unet", unet))
    dyn = int(positional[3]) if len(positional) > 3 else None
    dyn = int(named["dyn"]) if "dyn" in named else dyn
    return te, unet, dyn


# --- sample files (--seed-loras) ---

_SAMPLES: list[dict[str, Any]] = [
    {
        "file": "character_lora.safetensors",
        "output": "character_lora",
        "base": "sd_v1",
        "model": "animefull_final.safetensors",
        "tags": {"10_chara": {"1girl": 120, "solo": 98, "long hair": 80, "smile": 41}},
        "comment": "trigger: chara_v1",
    },
    {
        "file": "style_lora.safetensors",
        "output": "style_lora",
        "base": "sd_v1",
        "model": "v1-5-pruned-emaonly.safetensors",
        "tags": {"5_watercolor": {"watercolor": 60, "painting": 44, "landscape": 20}},
        "comment": "watercolor painting style",
    },
    {
        "file": "anime_style_v2.safetensors",
        "output": "animeStyleV2",
        "base": "sd_v1",
        "model": "animefull_final.safetensors",
        "tags": {"8_anime": {"anime": 150, "cel shading": 70, "vibrant colors": 33}},
        "comment": "",
    },
    {
        "file": "detail_tweaker.safetensors",
        "output": "add_detail",
        "base": "sd_v1",
        "model": "v1-5-pruned-emaonly.safetensors",
        "tags": {},
        "comment": "weight -1..2; negative removes detail",
    },
    {
        "file": "SDXL/pony_style_xl.safetensors",
        "output": "pony_style_xl",
        "base": "sdxl_base_v1-0",
        "model": "ponyDiffusionV6XL.safetensors",
        "tags": {"3_pony": {"score_9": 40, "source_anime": 25}},
        "comment": "",
    },
]


def _payload(seed: str, dim: int) -> tuple[dict[str, Any], bytes]:
    """Two tiny float16 tensors shaped like a LoRA down/up pair."""
    header: dict[str, Any] = {}
    data = b""
    for tname, shape in (
        ("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", [dim, 8]),
        ("lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight", [8, dim]),
    ):
        count = shape[0] * shape[1]
        raw = hashlib.shake_256(f"{seed}:{tname}".encode()).digest(count)
        tensor = b"".join(struct.pack("<e", (b - 128) / 1024) for b in raw)
        header[tname] = {
            "dtype": "F16",
            "shape": shape,
            "data_offsets": [len(data), len(data) + len(tensor)],
        }
        data += tensor
    return header, data


def write_safetensors(
    path: Path, tensors: dict[str, Any], data: bytes, metadata: dict[str, str]
) -> None:
    header = dict(tensors)
    header["__metadata__"] = metadata
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data)


def seed_sample_loras(lora_dir: str) -> list[Path]:
    """Write the sample LoRAs (with realistic kohya ``ss_*`` metadata) unless present."""
    written = []
    for i, s in enumerate(_SAMPLES):
        path = Path(lora_dir) / s["file"]
        if path.exists():
            continue
        tensors, data = _payload(s["file"], 4)
        payload_hash = hashlib.sha256(data).hexdigest()
        n_images = sum(sum(t.values()) for t in s["tags"].values()) or 30
        metadata = {
            "ss_output_name": s["output"],
            "ss_sd_model_name": s["model"],
            "ss_base_model_version": s["base"],
            "ss_v2": "False",
            "ss_network_module": "networks.lora",
            "ss_network_dim": "32",
            "ss_network_alpha": "16.0",
            "ss_resolution": "(1024, 1024)" if s["base"].startswith("sdxl") else "(512, 512)",
            "ss_clip_skip": "2" if "anime" in s["model"] else "None",
            "ss_num_train_images": str(n_images),
            "ss_learning_rate": "0.0001",
            "ss_epoch": "10",
            "ss_steps": str(1000 + 100 * i),
            "ss_training_started_at": str(1700000000 + 3600 * i),
            "ss_training_comment": s["comment"],
            "ss_tag_frequency": json.dumps(s["tags"]),
            "ss_dataset_dirs": json.dumps(
                {d: {"n_repeats": int(d.split("_")[0]), "img_count": 12} for d in s["tags"]}
            ),
            "sshs_model_hash": payload_hash,
            "sshs_legacy_hash": hashlib.sha256(data[:0x10000]).hexdigest()[:8],
        }
        write_safetensors(path, tensors, data, metadata)
        written.append(path)
    return written
