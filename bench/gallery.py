"""The gallery at scale: a million stored pictures, the first page of a user's gallery and
a prompt search, through the HTTP API (Django's test client with a real API key).

    DATABASE_URL=postgres://…/bench_gallery python -m bench.gallery [--rows 1000000]
                                              [--users 1000] [--queries 200] [--json FILE]

Runs in a throw-away test database of the configured one. Rows are written with COPY-like
bulk inserts (jobs of 4 pictures each, prompts drawn from a vocabulary, one heavy user
holding 5 % of them); queries ask for the first page (30) of random users' galleries and
of the heavy user's, and for a word or two of their prompts.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import timedelta

from bench.harness import log, parser, percentile, report, setup_django

WORDS = ("lighthouse fox harbour castle dragon portrait forest neon city river snow desert "
         "robot witch knight garden ocean mountain train market library comet owl whale "
         "sunset dusk night rain fog golden silver crimson azure emerald violet").split()  # fmt: skip
STYLES = ("oil painting, watercolor, pixel art, cinematic lighting, 35 mm film, ink sketch, "
          "isometric render, ukiyo-e").split(", ")  # fmt: skip


def fill(rows: int, users: int, rng: random.Random) -> list[str]:
    from django.db import connection, transaction
    from django.utils import timezone

    from generation_app.models import Job, JobImage

    names = [f"user{n}" for n in range(users)]
    heavy = names[0]
    start = timezone.now() - timedelta(days=365)
    made, batch_jobs, batch_images = 0, [], []
    while made < rows:
        user = heavy if rng.random() < 0.05 else rng.choice(names)
        prompt = f"a {rng.choice(WORDS)} {rng.choice(WORDS)} by the {rng.choice(WORDS)}, {rng.choice(STYLES)}"
        created = start + timedelta(seconds=made * 30)
        job = Job(id=uuid.uuid4(), user_id=user, kind="txt2img", status="completed",
                  payload={"prompt": prompt}, request={"prompt": prompt}, created_at=created,
                  queue_key=created, finished_at=created)  # fmt: skip
        batch_jobs.append(job)
        for index in range(4):
            batch_images.append(JobImage(
                job=job, index=index, file=f"jobs/{job.id}/{index}.png",
                thumbnail=f"jobs/{job.id}/{index}.thumb.webp", width=512, height=512,
                seed=rng.randint(0, 2**31), user_id=user, prompt=prompt, created_at=created,
            ))  # fmt: skip
        made += 4
        if len(batch_images) >= 20_000:
            with transaction.atomic():
                Job.objects.bulk_create(batch_jobs)
                JobImage.objects.bulk_create(batch_images)
            batch_jobs, batch_images = [], []
            log(f"   {made:,} pictures")
    with transaction.atomic():
        Job.objects.bulk_create(batch_jobs)
        JobImage.objects.bulk_create(batch_images)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return names


def run(rows: int, users: int, queries: int) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_databases, teardown_databases

    old = setup_databases(verbosity=0, interactive=False)
    try:
        from core.models import ApiKey

        rng = random.Random(5)
        started = time.perf_counter()
        names = fill(rows, users, rng)
        fill_s = time.perf_counter() - started
        client = Client(HTTP_AUTHORIZATION=f"Bearer {ApiKey.generate('bench')[1]}")
        timings: dict[str, list[float]] = {"first_page": [], "first_page_heavy": [],
                                           "search": [], "search_heavy": []}  # fmt: skip
        client.get(f"/users/{names[0]}/images")  # warm up
        for _ in range(queries):
            user = rng.choice(names[1:])
            word = rng.choice(WORDS)
            cases = {
                "first_page": f"/users/{user}/images",
                "first_page_heavy": f"/users/{names[0]}/images",
                "search": f"/users/{user}/images?q={word}",
                "search_heavy": f"/users/{names[0]}/images?q={word}+{rng.choice(WORDS)}",
            }
            for name, url in cases.items():
                started = time.perf_counter()
                response = client.get(url)
                timings[name].append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.content[:300]
        figures = {
            "database": connection.vendor,
            "pictures": rows,
            "users": users,
            "fill_s": round(fill_s, 1),
            **{
                f"{name}_ms": {
                    "p50": round(percentile(t, 50), 1),
                    "p95": round(percentile(t, 95), 1),
                }
                for name, t in timings.items()
            },  # fmt: skip
        }
        return figures
    finally:
        teardown_databases(old, verbosity=0)


def main() -> None:
    p = parser("gallery", __doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--queries", type=int, default=200)
    options = p.parse_args()
    setup_django()
    figures = run(options.rows, options.users, options.queries)
    lines = [f"{name}: p95 {figures[f'{name}_ms']['p95']} ms (target < 50 ms on PostgreSQL)"
             for name in ("first_page", "first_page_heavy", "search", "search_heavy")]  # fmt: skip
    report(figures, options.json_path, lines)


if __name__ == "__main__":
    main()
