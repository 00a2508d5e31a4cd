"""GET /metrics for Prometheus, and the staff dashboard page of the admin."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib import admin
from django.http import HttpResponse
from django.template.response import TemplateResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework import authentication
from rest_framework.views import APIView

from core.auth import ApiKeyAuthentication, IsServiceKey, Principal
from ops import dashboard, metrics

SCRAPER = Principal(key_id=None, name="metrics scrape token (HUB_METRICS_TOKEN)")


class MetricsTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <HUB_METRICS_TOKEN>`: a scraper needs no API key. Anything
    else falls through to the API keys."""

    def authenticate(self, request):
        token = settings.HUB_METRICS_TOKEN
        scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if token and scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token):
            return SCRAPER, None
        return None

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="a1111hub"'


class MetricsView(APIView):
    """Prometheus exposition of the whole hub, read from the database at scrape time."""

    authentication_classes = [MetricsTokenAuthentication, ApiKeyAuthentication]
    permission_classes = [IsServiceKey]  # it names users: not for a user key
    throttle_classes = []  # a scraper polls on its own schedule

    @extend_schema(
        tags=["System"],
        summary="Prometheus metrics",
        description=(
            "Prometheus text exposition: jobs by state, kind and backend; queue depth and "
            "waits; backends; failures by reason; LoRA scans and hashing. Needs a service "
            "key or `Authorization: Bearer $HUB_METRICS_TOKEN`."
        ),
        responses={
            (200, "text/plain"): OpenApiResponse(
                OpenApiTypes.STR, description="Prometheus text format (text/plain; version=0.0.4)"
            )
        },
    )
    def get(self, request):
        return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)


def dashboard_view(request):
    """The state of the hub on one page, for staff (wrapped in admin_view in the urls)."""
    context = {
        **admin.site.each_context(request),
        "title": "Hub dashboard",
        **dashboard.snapshot(),
    }
    return TemplateResponse(request, "ops/dashboard.html", context)
