"""``python -m a1111sim``: run the simulator until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse

from .server import SimConfig, serve


def parse_args(argv: list[str] | None = None) -> SimConfig:
    p = argparse.ArgumentParser(prog="a1111sim", description="AUTOMATIC1111 API simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860, help="0 picks a free port")
    p.add_argument("--lora-dir", default=None, help="folder of LoRA files to list")
    p.add_argument("--step-ms", type=int, default=50, help="time per sampling step")
    p.add_argument("--swap-ms", type=int, default=500, help="time to swap checkpoints")
    p.add_argument("--api-auth", default=None, help="user:pass[,user2:pass2] for /sdapi/v1/*")
    p.add_argument("--models-json", default=None, help="replace the built-in model set")
    p.add_argument("--nowebui", action="store_true", help="API only: no /internal/* routes")
    p.add_argument("--no-controlnet", action="store_true")
    p.add_argument("--no-regional-prompter", action="store_true")
    p.add_argument("--no-adetailer", action="store_true", help="without the ADetailer extension")
    p.add_argument("--fail-rate", type=float, default=0.0, help="share of generations that fail")
    p.add_argument("--seed-loras", action="store_true", help="write sample LoRAs to --lora-dir")
    p.add_argument("--controlnet-unit-count", type=int, default=3, metavar="N",
                   help="ControlNet unit slots (1-10), fixed until restart like the extension's")  # fmt: skip
    a = p.parse_args(argv)
    if a.seed_loras and not a.lora_dir:
        p.error("--seed-loras needs --lora-dir DIR (the folder to write the sample LoRAs to)")
    if not 1 <= a.controlnet_unit_count <= 10:
        p.error("--controlnet-unit-count must be between 1 and 10")
    return SimConfig(
        host=a.host,
        port=a.port,
        lora_dir=a.lora_dir,
        step_ms=a.step_ms,
        swap_ms=a.swap_ms,
        api_auth=a.api_auth,
        models_json=a.models_json,
        nowebui=a.nowebui,
        controlnet=not a.no_controlnet,
        regional_prompter=not a.no_regional_prompter,
        adetailer=not a.no_adetailer,
        fail_rate=a.fail_rate,
        seed_loras=a.seed_loras,
        controlnet_unit_count=a.controlnet_unit_count,
    )


def main(argv: list[str] | None = None) -> None:
    serve(parse_args(argv))


if __name__ == "__main__":
    main()
