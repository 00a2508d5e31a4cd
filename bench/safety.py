"""What the output-safety detector costs the worker: CPU seconds per classified image, at
512² and 1024², with the hub's own code path (``media.safety.classify``) and the real model.

    python -m bench.safety [--json FILE]

Pictures are photographs-like noise fields (smooth gradients plus noise), PNG-encoded as
A1111 sends them; the detector resizes every image to 320² first, so the cost barely
depends on the size. Classification runs after the backend is released: it delays the
job's `completed`, never the next job's start.
"""

from __future__ import annotations

import io
import statistics
import time

from bench.harness import parser, report, setup_django


def picture(size: int, seed: int) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    base = (ramp[None, :, None] + ramp[:, None, None]) / 2
    pixels = np.clip(base + rng.normal(0, 40, (size, size, 3)), 0, 255).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def main() -> None:
    options = parser("safety", __doc__.splitlines()[0]).parse_args()
    setup_django()
    from generation_app.media.safety import classify

    started = time.process_time()
    classify(picture(64, 0))  # loads the model once per process
    load = time.process_time() - started
    figures = {"model_load_cpu_s": round(load, 3)}
    lines = [f"model load: {load * 1000:.0f} ms CPU (once per worker process)"]
    for size in (512, 1024):
        images = [picture(size, seed) for seed in range(30)]
        costs = []
        for raw in images:
            started = time.process_time()
            classify(raw)
            costs.append(time.process_time() - started)
        median = statistics.median(costs) * 1000
        worst = max(costs) * 1000
        figures[f"cpu_ms_{size}"] = {"median": round(median, 1), "max": round(worst, 1)}
        lines.append(
            f"{size}²: {median:.0f} ms CPU median, {worst:.0f} ms max ({len(costs)} images)"
        )
    report(figures, options.json_path, lines)


if __name__ == "__main__":
    main()
