"""Settings for A1111 Hub, read from the environment with working defaults.

Every knob is an environment variable; docs/configuration.md lists them. Nothing here talks to
the network or the database, or writes a file (``a1111hub.datadir`` does, at start-up).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from a1111hub import __version__
from a1111hub.datadir import data_dir, read_secret_key
from a1111hub.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

HUB_DATA_DIR = data_dir()
SECRET_KEY = env_str("SECRET_KEY", "") or read_secret_key(HUB_DATA_DIR)
HUB_VERSION = __version__
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["*"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "core",
    "backends",
    "a1111hub",
    "loras_app",
    "sessions_app",
    "presets_app",
    "communities",
    "generation_app",
    "discord_app",
    "webui",
    "ops",
    "axes",  # admin login attempts (django-axes)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

# Admin sign-in: after HUB_ADMIN_LOGIN_FAILURES wrong passwords for one user name from one
# address, that pair is locked out (429) for HUB_ADMIN_LOCKOUT_MINUTES, even with the right
# password; a success resets the count. API keys do not sign in this way.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("HUB_ADMIN_LOGIN_FAILURES", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("HUB_ADMIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

ROOT_URLCONF = "a1111hub.urls"
WSGI_APPLICATION = "a1111hub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# SQLite by default, tuned so that the web process and several django-q workers can write
# at once: WAL lets readers and one writer overlap, IMMEDIATE transactions take the write
# lock up front (no deadlock on lock upgrade), and a 20 s busy timeout waits instead of
# raising "database is locked".
DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(HUB_DATA_DIR / "hub.sqlite3"),
            # Kept open between requests: opening one (and its PRAGMAs) cost more than
            # many a request's queries.
            "CONN_MAX_AGE": 60,
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                ),
            },
            "TEST": {"NAME": str(HUB_DATA_DIR / "test-hub.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# One cache per process by default; with Redis, one shared by every web process and worker
# (rate limits hold across processes). It uses the next Redis database after the broker's,
# so clearing the cache never touches the queue.
HUB_CACHE_URL = env_str("HUB_CACHE_URL", "")
if not HUB_CACHE_URL and env_str("REDIS_URL", ""):
    _broker = urlsplit(env_str("REDIS_URL", ""))
    _db = int((_broker.path or "/0").strip("/") or 0)
    HUB_CACHE_URL = urlunsplit(_broker._replace(path=f"/{(_db + 1) % 16}"))
CACHES = {
    "default": (
        {"BACKEND": "core.cache.RedisCache", "LOCATION": HUB_CACHE_URL}
        if HUB_CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "a1111hub"}
    ),
    # What every web process must agree on even without Redis: the generation rate limit
    # and caption/stream slots. A database table otherwise (made by core's migrations).
    "shared": (
        {"BACKEND": "core.cache.RedisCache", "LOCATION": HUB_CACHE_URL}
        if HUB_CACHE_URL
        else {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "hub_shared_cache",
        }
    ),
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = HUB_DATA_DIR / "static"
# WhiteNoise serves the admin's and /docs' assets from the production server too; with
# WHITENOISE_USE_FINDERS no collectstatic step is needed.
WHITENOISE_USE_FINDERS = True
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("HUB_MEDIA_DIR", str(HUB_DATA_DIR / "media")))
# Result images, thumbnails, grids and live previews are written and read only through
# Django's storage API (STORAGES["default"]): a folder (MEDIA_ROOT) by default, any Django
# storage by configuration, e.g. django-storages' S3 (docs/guide/generation-and-jobs.md).
HUB_STORAGE_BACKEND = env_str("HUB_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")
try:
    HUB_STORAGE_OPTIONS = json.loads(env_str("HUB_STORAGE_OPTIONS", "") or "{}")
except ValueError:
    raise ImproperlyConfigured("HUB_STORAGE_OPTIONS must be a JSON object.") from None
if not isinstance(HUB_STORAGE_OPTIONS, dict):
    raise ImproperlyConfigured("HUB_STORAGE_OPTIONS must be a JSON object.")
STORAGES = {
    "default": {"BACKEND": HUB_STORAGE_BACKEND, "OPTIONS": HUB_STORAGE_OPTIONS},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Links: absolute under HUB_PUBLIC_URL when set (behind a reverse proxy), else from the
# request's Host. Image links are signed and open without a key for this long.
HUB_PUBLIC_URL = env_str("HUB_PUBLIC_URL", "").rstrip("/")
HUB_IMAGE_URL_SECONDS = env_int("HUB_IMAGE_URL_SECONDS", 86400)
# Every image also comes compressed (JPEG) under this many bytes: 8 MB is the smallest
# upload cap Discord has had (10 MB for free accounts since 2024, more with boosts), so
# the compressed image uploads anywhere, with room left in the message.
HUB_COMPRESSED_MAX_BYTES = env_int("HUB_COMPRESSED_MAX_BYTES", 8 * 1000 * 1000)
# Retention and quota, enforced by a scheduled prune on the housekeeping queue (0 = off).
HUB_IMAGE_RETENTION_DAYS = env_float("HUB_IMAGE_RETENTION_DAYS", 0)
HUB_USER_IMAGE_QUOTA_MB = env_float("HUB_USER_IMAGE_QUOTA_MB", 0)
HUB_PRUNE_INTERVAL_MINUTES = env_int("HUB_PRUNE_INTERVAL_MINUTES", 60)

# Uploads: generous enough for a few 2048² PNGs in one multipart request.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("HUB_MAX_REQUEST_BYTES", 64 * 1024 * 1024)
# Files above this go to a temporary file while they stream in (core.uploads bounds them).
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- REST framework and OpenAPI -------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["core.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["core.auth.HasApiKey"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON everywhere; the views that take files add multipart (core.parsers.JSON_AND_FILES).
    "DEFAULT_PARSER_CLASSES": ["core.parsers.HubJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["core.throttles.KeyRateThrottle"],
    "UNAUTHENTICATED_USER": None,
    # `?format=` is ours (GET /jobs/{id}/result?format=url), not a renderer override.
    "URL_FORMAT_OVERRIDE": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "A1111 Hub API",
    "DESCRIPTION": (
        "One HTTP API in front of AUTOMATIC1111 stable-diffusion-webui for Discord bots "
        "and mobile apps: sessions, LoRA catalog, presets and queued generation jobs. "
        "Authenticate with `Authorization: Bearer <key>` or `X-API-Key: <key>`."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Swagger UI assets ship with the hub (drf-spectacular-sidecar): /docs works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Statuses every operation can answer (401, 429, 400/413/415 with a body), no
    # form-urlencoded, a description everywhere: core.openapi.postprocess.
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "generation_app.models.Job.Status",
        "JobKindEnum": "generation_app.models.Job.Kind",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.openapi.postprocess",
    ],
    "SECURITY": [{"ApiKeyAuth": []}],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "ApiKeyAuth": {"type": "http", "scheme": "bearer"},
        }
    },
}

# --- A1111 backends -------------------------------------------------------------------
# A1111_URL may name several backends, comma-separated. Empty means "the default local
# A1111, or the built-in simulator when none answers" (decided by runhub).
A1111_URLS = env_list("A1111_URL", [])
A1111_AUTH = env_str("A1111_AUTH", "")  # "user:pass" for A1111's --api-auth
A1111_CONNECT_TIMEOUT = env_float("A1111_CONNECT_TIMEOUT", 3.0)
A1111_READ_TIMEOUT = env_float("A1111_READ_TIMEOUT", 15.0)  # listings, options, progress
A1111_GENERATION_TIMEOUT = env_float("A1111_GENERATION_TIMEOUT", 1800.0)
# POST /interrogate waits at most this long (behind a running job on the backend too).
HUB_INTERROGATE_TIMEOUT = env_float("HUB_INTERROGATE_TIMEOUT", 120.0)
HUB_MAX_CAPTIONS_PER_KEY = env_int("HUB_MAX_CAPTIONS_PER_KEY", 2)  # at once, per web process
HUB_MAX_CAPTIONS_PER_PROCESS = env_int("HUB_MAX_CAPTIONS_PER_PROCESS", 4)
# POST /controlnet/preprocess waits this long for A1111 (a cold GPU loads the model first).
HUB_PREPROCESS_TIMEOUT = env_float("HUB_PREPROCESS_TIMEOUT", 120.0)
# Set by runhub when it started a1111sim itself, so /health can say so loudly.
HUB_SIMULATOR_STARTED = env_bool("HUB_SIMULATOR_STARTED", False)
MODELS_CACHE_SECONDS = env_int("HUB_MODELS_CACHE_SECONDS", 60)
# How long a job waits for a free, healthy backend before it fails.
# A queued job no backend took within this long is failed (the queue is not a parking lot).
HUB_BACKEND_WAIT_SECONDS = env_int("HUB_BACKEND_WAIT_SECONDS", 3600)
# A backend prefers jobs for the checkpoint it has loaded, but never delays another job
# longer than this for it.
HUB_AFFINITY_MAX_WAIT_SECONDS = env_int("HUB_AFFINITY_MAX_WAIT_SECONDS", 30)

# --- Auth -----------------------------------------------------------------------------
HUB_ALLOW_ANONYMOUS = env_bool("HUB_ALLOW_ANONYMOUS", False)
HUB_API_KEY_CACHE_SECONDS = env_float("HUB_API_KEY_CACHE_SECONDS", 10.0)

# --- Queue (django-q2) ----------------------------------------------------------------
# Two queues. Generation: a dispatcher task drives every free backend at once (one thread
# per running job), so concurrency follows the enabled backends, not HUB_WORKERS; it stops
# taking new jobs after HUB_DISPATCH_SECONDS and hands over to a fresh task. Housekeeping:
# sweeps, LoRA scans and hashing, on a cluster of their own, so they never wait behind
# generation work. A task must never be handed to a second worker while the first is
# still on it, so `retry` is well above `timeout` (django-q2 re-delivers an unacknowledged
# task after `retry` seconds).
HUB_DISPATCH_SECONDS = env_int("HUB_DISPATCH_SECONDS", 300)
# A running dispatcher checks this often whether a new job signalled itself (a stat() or
# a Redis GET), so a job sent while every dispatcher is busy starts on a free backend
# within it; it claims anyway every HUB_DISPATCH_RECHECK seconds (a backend back in
# service, a job on another machine that could not signal it).
HUB_DISPATCH_POLL = env_float("HUB_DISPATCH_POLL", 0.1)
HUB_DISPATCH_RECHECK = env_float("HUB_DISPATCH_RECHECK", 2.0)
JOB_TIMEOUT = env_int("HUB_JOB_TIMEOUT", HUB_DISPATCH_SECONDS + int(A1111_GENERATION_TIMEOUT) + 120)
HOUSEKEEPING_TIMEOUT = env_int("HUB_HOUSEKEEPING_TIMEOUT", 3600)
REDIS_URL = env_str("REDIS_URL", "")
HUB_QUEUE_NAME = env_str("HUB_QUEUE_NAME", "a1111hub")
HUB_HOUSEKEEPING_QUEUE = f"{HUB_QUEUE_NAME}-housekeeping"
Q_CLUSTER = {
    "name": HUB_QUEUE_NAME,
    "workers": env_int("HUB_WORKERS", 2),
    "timeout": JOB_TIMEOUT,
    "retry": JOB_TIMEOUT + 600,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 500,
    "label": "Task queue",
    "poll": env_float("HUB_QUEUE_POLL", 0.1),
    "recycle": 500,
    # The sentinel's look at its processes (and the status it saves each time): every 2 s,
    # not django-q2's 0.5 s, which was a third of an idle cluster's CPU. A stop is still
    # seen at once; a dead worker is replaced within 2 s.
    "guard_cycle": 2.0,
    # Started with Q_CLUSTER_NAME=<HUB_HOUSEKEEPING_QUEUE> (runhub does it).
    "ALT_CLUSTERS": {
        HUB_HOUSEKEEPING_QUEUE: {
            "workers": env_int("HUB_HOUSEKEEPING_WORKERS", 1),
            "timeout": HOUSEKEEPING_TIMEOUT,
            "retry": HOUSEKEEPING_TIMEOUT + 600,
            # Its tasks (webhook tries, scans, Discord edits) can start half a second late;
            # an idle pusher's looks are most of an idle cluster's CPU.
            "poll": env_float("HUB_HOUSEKEEPING_POLL", 0.5),
        }
    },
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    # Queries its table only when woken by an enqueue, or every HUB_QUEUE_RECHECK seconds.
    Q_CLUSTER["broker_class"] = "core.broker.WakingORM"
HUB_QUEUE_RECHECK = env_float("HUB_QUEUE_RECHECK", 2.0)

# --- Generation -----------------------------------------------------------------------
# Applied first, under the user's custom settings, the preset and the request. A1111's own
# defaults (50 steps of Euler) are slow and dated, so the hub asks for something better.
HUB_GENERATION_DEFAULTS = {
    "steps": env_int("HUB_DEFAULT_STEPS", 20),
    "cfg_scale": env_float("HUB_DEFAULT_CFG", 7.0),
    "width": env_int("HUB_DEFAULT_WIDTH", 512),
    "height": env_int("HUB_DEFAULT_HEIGHT", 512),
    "sampler_name": env_str("HUB_DEFAULT_SAMPLER", "DPM++ 2M"),
    "scheduler": env_str("HUB_DEFAULT_SCHEDULER", "Karras"),
}
# Everything one request may make: width x height x hires scale² x images. 2048² with
# hires x2 is 16.8 M; 2048² x 4 (8192²) is refused.
HUB_MAX_OUTPUT_PIXELS = env_int("HUB_MAX_OUTPUT_PIXELS", 4096 * 4096)
HUB_MAX_UPLOAD_BYTES = env_int("HUB_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)  # one file
HUB_MAX_UPLOAD_TOTAL_BYTES = env_int("HUB_MAX_UPLOAD_TOTAL_BYTES", 40 * 1024 * 1024)  # all
HUB_MAX_UPLOAD_FILES = env_int("HUB_MAX_UPLOAD_FILES", 20)
# A structured form field (units, regions as text): embedded base64 images fit, a
# hostile parse does not (its node count and depth are capped as well).
HUB_MAX_STRUCTURED_FIELD_BYTES = env_int("HUB_MAX_STRUCTURED_FIELD_BYTES", 8 * 1024 * 1024)
HUB_MAX_UPLOAD_PIXELS = env_int("HUB_MAX_UPLOAD_PIXELS", 4096 * 4096)
HUB_MAX_ACTIVE_JOBS_PER_USER = env_int("HUB_MAX_ACTIVE_JOBS_PER_USER", 4)
# A job its user paused is cancelled after this long (paused jobs keep their place).
HUB_PAUSE_MAX_HOURS = env_float("HUB_PAUSE_MAX_HOURS", 24)

# --- Communities ----------------------------------------------------------------------
# The global policy (a JSON object, the least specific level: docs/guide/communities.md),
# and banned words every request is screened for, with or without a community.
HUB_POLICY = json.loads(env_str("HUB_POLICY", "{}") or "{}")
HUB_BANNED_WORDS = env_str("HUB_BANNED_WORDS", "")
# Output safety: the detector every generated image is classified with (nudenet, or off),
# and the score from which an image is flagged (0 flags every image).
HUB_SAFETY_DETECTOR = env_str("HUB_SAFETY_DETECTOR", "nudenet")
HUB_SAFETY_THRESHOLD = env_float("HUB_SAFETY_THRESHOLD", 0.5)
# Classify images whose action is `allow` too (labelled, never withheld): off by default,
# since the detector costs more CPU than the rest of a job's handling in the hub.
HUB_SAFETY_LABEL_ALLOWED = env_bool("HUB_SAFETY_LABEL_ALLOWED", False)
# --- The web app (/app) ---------------------------------------------------------------
# A sign-in link (manage.py app_link) works once, within this many minutes.
HUB_APP_LINK_MINUTES = env_float("HUB_APP_LINK_MINUTES", 15)
# The key a sign-in link gives (kept in the browser) expires after this many days.
HUB_APP_KEY_DAYS = env_float("HUB_APP_KEY_DAYS", 30)
# --- Discord (the hub as a bot over HTTP interactions) --------------------------------
DISCORD_APPLICATION_ID = env_str("DISCORD_APPLICATION_ID", "")
DISCORD_PUBLIC_KEY = env_str("DISCORD_PUBLIC_KEY", "")  # hex, from the developer portal
DISCORD_BOT_TOKEN = env_str("DISCORD_BOT_TOKEN", "")  # optional: commands, late results
DISCORD_API_URL = env_str("DISCORD_API_URL", "https://discord.com/api/v10")
DISCORD_UPLOAD_LIMIT_BYTES = env_int("DISCORD_UPLOAD_LIMIT_BYTES", 10 * 1024 * 1024)
DISCORD_EDIT_SECONDS = env_float("DISCORD_EDIT_SECONDS", 2.0)
DISCORD_UPSCALER = env_str("DISCORD_UPSCALER", "R-ESRGAN 4x+")
DISCORD_VARIATION_STRENGTH = env_float("DISCORD_VARIATION_STRENGTH", 0.3)
DISCORD_SHARED_BUTTONS = env_bool("DISCORD_SHARED_BUTTONS", False)
# Budgets run over periods this long (a policy's budget.period_hours wins).
HUB_BUDGET_PERIOD_HOURS = env_float("HUB_BUDGET_PERIOD_HOURS", 24)
# Sweeps: cells per sweep, and sweeps a user may have running (a sweep counts as one
# request, not as its cells).
HUB_MAX_SWEEP_CELLS = env_int("HUB_MAX_SWEEP_CELLS", 64)
HUB_MAX_ACTIVE_GROUPS_PER_USER = env_int("HUB_MAX_ACTIVE_GROUPS_PER_USER", 1)
# A running job's worker writes a heartbeat with each progress, and at least every 5 s (a
# quarter of this at most); one silent this long is taken for dead by the sweep.
HUB_JOB_STALE_SECONDS = env_int("HUB_JOB_STALE_SECONDS", 90)
# Once a second, as A1111's own page polls by default (live_preview_refresh_period): each
# read is an HTTP call and a write, and a client polling the hub sees no staler progress.
HUB_PROGRESS_INTERVAL = env_float("HUB_PROGRESS_INTERVAL", 1.0)
# A running job's live preview is fetched from A1111 at most this often (seconds).
HUB_PREVIEW_INTERVAL = env_float("HUB_PREVIEW_INTERVAL", 1.0)
# Server-sent event streams: at most this many open per web process (the last
# HUB_EVENT_STREAMS_RESERVED of them for service keys only), this many per key across the
# hub, each at most HUB_EVENT_STREAM_SECONDS long and closed after
# HUB_EVENT_STREAM_IDLE_SECONDS without an event (clients reconnect by themselves).
HUB_MAX_EVENT_STREAMS = env_int("HUB_MAX_EVENT_STREAMS", 2)
HUB_EVENT_STREAMS_RESERVED = env_int("HUB_EVENT_STREAMS_RESERVED", 1)
HUB_MAX_EVENT_STREAMS_PER_KEY = env_int("HUB_MAX_EVENT_STREAMS_PER_KEY", 1)
HUB_EVENT_STREAM_IDLE_SECONDS = env_int("HUB_EVENT_STREAM_IDLE_SECONDS", 30)
# Rate limits (429 with Retry-After): requests per API key (each key may have its own in
# the admin), and generation requests per user id whichever key sends them.
# A keyed GET /health asks the backends at most this often (per process); without a key
# it never does.
HUB_HEALTH_PROBE_SECONDS = env_int("HUB_HEALTH_PROBE_SECONDS", 5)
HUB_RATE_LIMIT = env_str("HUB_RATE_LIMIT", "1200/min")
HUB_GENERATION_RATE_LIMIT = env_str("HUB_GENERATION_RATE_LIMIT", "60/min")
HUB_EVENT_STREAM_SECONDS = env_int("HUB_EVENT_STREAM_SECONDS", 120)
# Push (webhooks and GET /users/{id}/events): job events are rows kept this long.
HUB_EVENT_RETENTION_HOURS = env_float("HUB_EVENT_RETENTION_HOURS", 24)
# Webhooks: POSTed by the housekeeping queue, never to a loopback, private, link-local or
# reserved address unless allowed (a trusted network, the tests). A failed delivery is
# tried again after each of these delays (seconds): 6 tries over about 10 minutes.
HUB_WEBHOOK_ALLOW_PRIVATE = env_bool("HUB_WEBHOOK_ALLOW_PRIVATE", False)
HUB_WEBHOOK_RETRY_DELAYS = [
    float(d) for d in env_list("HUB_WEBHOOK_RETRY_DELAYS", ["10", "30", "90", "180", "300"])
]
HUB_WEBHOOK_TIMEOUT = env_float("HUB_WEBHOOK_TIMEOUT", 10.0)
HUB_WEBHOOK_PROGRESS_SECONDS = env_float("HUB_WEBHOOK_PROGRESS_SECONDS", 2.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Sessions and presets -------------------------------------------------------------
# Limits on what a session, a preset or a generation request may ask for. They are
# checked when a value is saved (a bad default is refused then, not when a job runs).
HUB_MAX_ACTIVE_LORAS = env_int("HUB_MAX_ACTIVE_LORAS", 8)
LORA_WEIGHT_MIN = env_float("LORA_WEIGHT_MIN", -5.0)
LORA_WEIGHT_MAX = env_float("LORA_WEIGHT_MAX", 5.0)
HUB_MIN_SIZE = env_int("HUB_MIN_SIZE", 64)
HUB_MAX_WIDTH = env_int("HUB_MAX_WIDTH", 2048)
HUB_MAX_HEIGHT = env_int("HUB_MAX_HEIGHT", 2048)
HUB_MAX_STEPS = env_int("HUB_MAX_STEPS", 150)
HUB_MAX_IMAGES = env_int("HUB_MAX_IMAGES", 16)  # batch_size x batch_count
HUB_MAX_PROMPT_CHARS = env_int("HUB_MAX_PROMPT_CHARS", 4000)
HUB_MAX_INFOTEXT_CHARS = env_int("HUB_MAX_INFOTEXT_CHARS", 32768)  # /png-info, presets
# Items (values in arrays and objects) and containers in one JSON body, counted while reading.
HUB_MAX_JSON_ITEMS = env_int("HUB_MAX_JSON_ITEMS", 10000)
HUB_MAX_HR_SCALE = env_float("HUB_MAX_HR_SCALE", 4.0)
HUB_MAX_PRESETS_PER_USER = env_int("HUB_MAX_PRESETS_PER_USER", 200)

# --- LoRA catalog ---------------------------------------------------------------------
# LORA_DIR: A1111's models/Lora folder when the hub can see it; empty means "ask the
# backends' /sdapi/v1/loras". The catalog is scanned at start-up and every
# LORA_SCAN_INTERVAL_MINUTES (0 turns the schedule off).
LORA_DIR = env_str("LORA_DIR", "")
LORA_SCAN_INTERVAL_MINUTES = env_int("LORA_SCAN_INTERVAL_MINUTES", 60)
LORA_SCAN_ON_START = env_bool("LORA_SCAN_ON_START", True)
LORA_HASH_IN_BACKGROUND = env_bool("LORA_HASH_IN_BACKGROUND", True)
# A scan holds its lock this long past its last heartbeat; a crashed scan frees it then.
LORA_SCAN_LOCK_SECONDS = env_int("LORA_SCAN_LOCK_SECONDS", 300)
# Civitai enrichment (opt-in): after hashing, each LoRA's sha256 (and nothing else) is looked
# up with Civitai's by-hash endpoint; what it says is stored beside the file's metadata.
CIVITAI_ENRICH = env_bool("CIVITAI_ENRICH", False)
CIVITAI_API_KEY = env_str("CIVITAI_API_KEY", "")
CIVITAI_BASE_URL = env_str("CIVITAI_BASE_URL", "https://civitai.com").rstrip("/")
CIVITAI_RATE_PER_SECOND = env_float("CIVITAI_RATE_PER_SECOND", 1.0)
CIVITAI_TIMEOUT_SECONDS = env_float("CIVITAI_TIMEOUT_SECONDS", 15.0)
# Unknown LoRAs and failed lookups are retried by this schedule (0 = only after scans).
CIVITAI_RETRY_INTERVAL_MINUTES = env_int("CIVITAI_RETRY_INTERVAL_MINUTES", 60)

# --- Operations (ops/): /metrics and the admin dashboard --------------------------------
# A scraper may send `Authorization: Bearer $HUB_METRICS_TOKEN` instead of an API key.
HUB_METRICS_TOKEN = env_str("HUB_METRICS_TOKEN", "")
# Queue wait and run time histograms, it/s and failures cover the jobs finished this long ago.
HUB_METRICS_WINDOW_SECONDS = env_int("HUB_METRICS_WINDOW_SECONDS", 3600)
# Per-user queue depth is exported for this many users (the busiest), to bound the series.
HUB_METRICS_TOP_USERS = env_int("HUB_METRICS_TOP_USERS", 10)
