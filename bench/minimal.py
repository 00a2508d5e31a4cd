"""The least a Django status endpoint can do, for bench.cpu's hot read: settings, URLs and a
WSGI application in one module (DJANGO_SETTINGS_MODULE=bench.minimal). No middleware, no
DRF: a raw SQL key check and one job row by primary key, as JSON, on the hub's database."""

from __future__ import annotations

import hashlib
import uuid

from a1111hub.settings import DATABASES  # noqa: F401  (the hub's database)

SECRET_KEY = "bench-minimal"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.minimal"
USE_TZ = True

COLUMNS = ("id", "user_id", "status", "progress", "step", "total_steps", "message")


def job_view(request, job_id: str):
    from django.db import connection
    from django.http import JsonResponse

    scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    digest = hashlib.sha256(raw.strip().encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM core_apikey WHERE key_hash = %s AND is_active", [digest])
        if scheme.lower() != "bearer" or cursor.fetchone() is None:
            return JsonResponse({"detail": "invalid key"}, status=401)
        try:
            key = uuid.UUID(job_id)
        except ValueError:
            return JsonResponse({"detail": "not found"}, status=404)
        cursor.execute(
            f"SELECT {', '.join(COLUMNS)} FROM generation_app_job WHERE id = %s",
            [key.hex if connection.vendor == "sqlite" else str(key)],
        )
        row = cursor.fetchone()
    if row is None:
        return JsonResponse({"detail": "not found"}, status=404)
    body = dict(zip(COLUMNS, row, strict=True))
    body["id"] = str(body["id"])
    return JsonResponse(body)


def _urlpatterns():
    from django.urls import path

    return [path("jobs/<str:job_id>", job_view)]


urlpatterns = _urlpatterns()


def _application():
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


application = _application()
