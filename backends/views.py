"""The hub's own endpoints: health and the model catalog."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backends import catalog, health
from backends.serializers import HealthSerializer, ModelsQuerySerializer, ModelsSerializer
from core.openapi import READ, errors
from core.query import read_query
from core.serializers import ErrorSerializer


class HealthView(APIView):
    """Is the hub able to serve? No key needed, so load balancers can ask."""

    permission_classes = [AllowAny]

    @extend_schema(
        responses={200: HealthSerializer, 401: ErrorSerializer, 503: HealthSerializer},
        tags=["system"],
        summary="Health (liveness without a key; a live probe of the backends with one)",
        description="Without a key: database and queue broker checked now, backends as the "
        "last probe found them (the housekeeping sweep probes every minute) — no backend call, "
        "no write, cheap for any load balancer — and the answer is the status only (`status`, "
        "`time`, `probed`, `simulator`): no backend URLs, checkpoints or queue depth. With an "
        "API key: the whole report, and the backends are asked now "
        "(at most every HUB_HEALTH_PROBE_SECONDS, then the same answer is served). 200 when "
        "the hub can serve, 503 with the same body when it cannot.",
    )
    def get(self, request: Request) -> Response:
        keyed = request.user is not None
        body, ok = health.health(probe_backends=keyed)
        return Response(body if keyed else health.public_view(body), status=200 if ok else 503)


class ModelsView(APIView):
    """Everything a client needs to build a generation form."""

    @extend_schema(
        parameters=[ModelsQuerySerializer],
        responses={200: ModelsSerializer, **errors(READ, 400, 503)},
        tags=["system"],
        summary="Checkpoints, VAEs, samplers, schedulers, upscalers and extensions",
        description="Everything a client needs to build a generation form: the checkpoints, "
        "VAEs, samplers, schedulers, upscalers, embeddings and extensions (ControlNet, "
        "Regional Prompter, ADetailer) of the enabled backends, cached for "
        "HUB_MODELS_CACHE_SECONDS (`refresh=true` asks now). 503 when no backend answers.",
    )
    def get(self, request: Request) -> Response:
        query = read_query(request, ModelsQuerySerializer)
        return Response(catalog.models_catalog(refresh=query["refresh"]))
