"""The hub as a Discord bot, timed: how fast a signed /imagine is answered (Discord allows
3 s) while every backend is busy, and autocomplete over a catalog of 100,000 LoRAs.

    python -m bench.discord [--interactions 50] [--rows 100000] [--queries 300] [--json FILE]

Part 1 runs a real hub (runhub's web processes and both queues) on 4 simulators, with the
stand-in Discord API (discordsim) as Discord: 8 long jobs keep the 4 backends busy, then
50 /imagine interactions, signed with a test key, are sent one after another; each is
timed to its deferred response, and every reply is then followed to its final edit. Part 2
fills a throw-away test database with 100,000 LoRAs and times signed autocomplete
interactions through Django's test client (the view, signature check and search included).
"""

from __future__ import annotations

import json
import random
import time

import requests

from bench.harness import Hub, Sims, log, parser, percentile, report, setup_django, wait_until


def signer():
    from nacl.signing import SigningKey

    key = SigningKey.generate()

    def sign(payload: dict) -> tuple[bytes, dict]:
        raw = json.dumps(payload).encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Signature-Ed25519": key.sign(stamp.encode() + raw).signature.hex(),
            "X-Signature-Timestamp": stamp,
        }
        return raw, headers

    return key.verify_key.encode().hex(), sign


def imagine(number: int, prompt: str, steps: int) -> dict:
    return {
        "id": str(700000 + number), "application_id": "1100000000000000001", "type": 2,
        "token": f"bench-token-{number}", "version": 1, "guild_id": "555", "channel_id": "777",
        "channel": {"id": "777", "nsfw": False}, "member": {"user": {"id": str(10 + number % 5)}},
        "data": {"name": "imagine", "type": 1, "options": [
            {"name": "prompt", "type": 3, "value": prompt},
            {"name": "size", "type": 3, "value": "512x512"},
            {"name": "steps", "type": 4, "value": steps}]},
    }  # fmt: skip


def interactions_under_load(count: int) -> dict:
    from discordsim.server import StandIn

    standin = StandIn().start()
    public_key, sign = signer()
    extra = {
        "DISCORD_PUBLIC_KEY": public_key,
        "DISCORD_APPLICATION_ID": "1100000000000000001",
        "DISCORD_API_URL": standin.url,
        "DISCORD_EDIT_SECONDS": "2",
        "HUB_SAFETY_THRESHOLD": "0.5",
    }
    hub = Hub("discord", extra)
    try:
        with Sims(4, step_ms=50) as sims:
            hub.start()
            hub.use_backends(sims.urls)
            busy = [hub.submit(f"heavy-{i}", steps=150) for i in range(8)]
            wait_until(lambda: hub.session.get(f"{hub.base}/queue").json()["running"] >= 4,
                       30, "the backends did not get busy")  # fmt: skip
            timings = []
            with requests.Session() as session:
                for n in range(count):
                    raw, headers = sign(imagine(n, f"a lighthouse, take {n}", 4))
                    started = time.perf_counter()
                    answer = session.post(f"{hub.base}/discord/interactions", data=raw,
                                          headers=headers, timeout=10)  # fmt: skip
                    timings.append((time.perf_counter() - started) * 1000)
                    if answer.status_code != 200 or answer.json().get("type") != 5:
                        raise RuntimeError(
                            f"/imagine {n}: {answer.status_code} {answer.text[:300]}"
                        )
            running_during = hub.session.get(f"{hub.base}/queue").json()["running"]
            finals = lambda: [  # noqa: E731
                c for c in standin.calls_to(r"/messages/@original") if c.files and c.status == 200
            ]
            wait_until(lambda: len(finals()) >= count, 600, "not every reply got its result")
            edits = standin.calls_to(r"/messages/@original")
            hub.wait_idle(600)
            hub.finished(busy)
    finally:
        hub.stop()
        standin.stop()
    return {
        "interactions": count,
        "backends_busy_when_sent": running_during,
        "deferred_response_ms": {
            "p50": round(percentile(timings, 50), 1),
            "p95": round(percentile(timings, 95), 1),
            "max": round(max(timings), 1),
        },  # fmt: skip
        "replies_with_result": len(finals()),
        "edits_per_reply": round(len(edits) / count, 2),
        "rate_limited_edits": sum(c.status == 429 for c in edits),
    }


def autocomplete_at_scale(rows: int, queries: int) -> dict:
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_databases, teardown_databases

    old = setup_databases(verbosity=0, interactive=False)
    try:
        from loras_app.models import Lora
        from loras_app.search import index_columns

        rng = random.Random(11)
        words = "anime style detail eyes city neon fantasy portrait armor dragon knight witch fox".split()
        names = sorted({f"{rng.choice(words)}_{rng.choice(words)}_{i}" for i in range(rows)})
        batch = []
        for name in names:
            lora = Lora(filename=f"{name}.safetensors", name=name.replace("_", " "), alias=name,
                        prompt_name=name, relative_path=f"x/{name}.safetensors")  # fmt: skip
            lora.search_text, lora.name_key = index_columns(lora, [name.split("_")[0]])
            batch.append(lora)
        Lora.objects.bulk_create(batch, batch_size=2000)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        public_key, sign = signer()
        settings.DISCORD_PUBLIC_KEY = public_key
        client = Client()
        timings, counts = [], []
        targets = rng.sample(names, queries)
        for i, target in enumerate([names[0], *targets]):
            typed = target[: rng.randint(2, len(target))]
            payload = {"id": str(i), "type": 4, "application_id": "1", "token": "t",
                       "member": {"user": {"id": "1"}}, "guild_id": "555",
                       "data": {"name": "imagine", "type": 1, "options": [
                           {"name": "lora", "type": 3, "value": typed, "focused": True}]}}  # fmt: skip
            raw, headers = sign(payload)
            started = time.perf_counter()
            answer = client.post("/discord/interactions", data=raw, content_type="application/json",
                                 HTTP_X_SIGNATURE_ED25519=headers["X-Signature-Ed25519"],
                                 HTTP_X_SIGNATURE_TIMESTAMP=headers["X-Signature-Timestamp"])  # fmt: skip
            if i:  # the first warms the caches
                timings.append((time.perf_counter() - started) * 1000)
                counts.append(len(answer.json()["data"]["choices"]))
        return {
            "database": connection.vendor,
            "catalog_rows": Lora.objects.count(),
            "autocomplete_ms": {
                "p50": round(percentile(timings, 50), 1),
                "p95": round(percentile(timings, 95), 1),
            },  # fmt: skip
            "choices_max": max(counts),
            "queries": len(timings),
        }
    finally:
        teardown_databases(old, verbosity=0)


def main() -> None:
    p = parser("discord", __doc__.splitlines()[0])
    p.add_argument("--interactions", type=int, default=50)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=300)
    options = p.parse_args()
    setup_django()
    log("== bench.discord: autocomplete over the catalog")
    autocomplete = autocomplete_at_scale(options.rows, options.queries)
    log("== bench.discord: /imagine while 4 backends are busy")
    under_load = interactions_under_load(options.interactions)
    figures = {"interactions": under_load, "autocomplete": autocomplete}
    lines = [
        f"/imagine deferred response: p50 {under_load['deferred_response_ms']['p50']} ms, "
        f"p95 {under_load['deferred_response_ms']['p95']} ms (target < 300 ms), "
        f"{under_load['backends_busy_when_sent']} backends busy",
        f"replies with their result: {under_load['replies_with_result']}/{options.interactions}",
        f"autocomplete over {autocomplete['catalog_rows']:,} LoRAs: p95 "
        f"{autocomplete['autocomplete_ms']['p95']} ms (target < 100 ms), "
        f"at most {autocomplete['choices_max']} choices",
    ]
    report(figures, options.json_path, lines)


if __name__ == "__main__":
    main()
