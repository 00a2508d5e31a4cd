"""The benchmarks: ``python -m bench.<name>`` (jobs, scheduler, soak, loras), or all of
them with ``make bench``. Never part of the tests, never imported by the hub's apps.

``bench.harness`` holds what they share; ``bench.settings`` and ``bench.urls`` are the
hub's own settings and URLs plus the baseline view the scheduler bench compares
GET /jobs/{id} with.
"""
