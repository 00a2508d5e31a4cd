"""The hub's settings with the benchmarks' URLs (the hub's API plus a baseline view): the
scheduler bench starts the hub it measures with DJANGO_SETTINGS_MODULE=bench.settings."""

from a1111hub.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
