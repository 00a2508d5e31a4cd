"""OpenAPI pieces the create endpoints share: error responses, the Idempotency-Key header,
the brief's examples, and the JSON-or-multipart request schema."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import serializers

from core.openapi import GENERATE, READ, errors, upload_variant
from core.serializers import ErrorSerializer
from generation_app.delivery.documents import (
    JobSerializer,
)


class DryRunSerializer(serializers.Serializer):
    """What a request with ``dry_run: true`` answers (200, nothing saved): what it would
    cost and the policy it would run under."""

    dry_run = serializers.BooleanField()
    jobs = serializers.IntegerField(help_text="Jobs it would make.")
    community_id = serializers.CharField(allow_null=True)
    channel_id = serializers.CharField(allow_null=True)
    nsfw = serializers.CharField(help_text="What a flagged image would become.")
    cost = serializers.FloatField()
    user_budget_left = serializers.FloatField(allow_null=True)
    community_budget_left = serializers.FloatField(allow_null=True)
    refills_at = serializers.DateTimeField(allow_null=True)
    downgraded = serializers.BooleanField()
    policy = serializers.DictField(help_text="The resolved policy.")
    sources = serializers.DictField(help_text="Which level set each policy field.")
    warnings = serializers.ListField(child=serializers.CharField())


def answered_or_dry_run(serializer_class, name: str) -> PolymorphicProxySerializer:
    """A 200 of a create endpoint: a replay of the same Idempotency-Key (the first
    answer), or a dry run's report."""
    return PolymorphicProxySerializer(
        component_name=name,
        serializers=[serializer_class, DryRunSerializer],
        resource_type_field_name=None,
    )


ERRORS = {
    400: ErrorSerializer,
    401: ErrorSerializer,
    403: ErrorSerializer,
    404: ErrorSerializer,
    413: ErrorSerializer,
    429: ErrorSerializer,
}


GENERATE_RESPONSES = {
    202: OpenApiResponse(JobSerializer, description="Queued: poll `links.self` (GET /jobs/{id})."),
    200: OpenApiResponse(
        answered_or_dry_run(JobSerializer, "JobOrDryRun"),
        description="A replay of the same Idempotency-Key (the first job), or the report "
        "of a dry run (`dry_run: true`: nothing saved).",
    ),
    **errors(
        GENERATE,
        e404="A preset_id, LoRA or result named by the request does not exist.",
        e409="No enabled backend has what the request needs (an extension, a checkpoint).",
        e429="The user has HUB_MAX_ACTIVE_JOBS_PER_USER jobs queued or running, or sent too "
        "many generation requests; `Retry-After` says when to try again.",
        e503="No backend is enabled or healthy: the job could not be queued.",
    ),
}


GENERATE_DESCRIPTION = (
    "Validates the request (400 with `fields` on bad input), merges server defaults < the "
    "user's session settings < the preset (`preset_id`) < the request, adds the session's "
    "LoRAs as `<lora:name:weight>` tags, and queues one job. Answers 202 at once with "
    "`job_id`, `status` and `queue_position`; poll GET /jobs/{job_id} (or follow "
    "/jobs/{job_id}/events, or set `webhook_url`) and fetch GET /jobs/{job_id}/result."
)


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Retrying with the same key and body returns the first job (200), never a "
    "second; the same key with another body is a 422.",
)


BRIEF_TXT2IMG = OpenApiExample(
    "The brief's request",
    value={
        "user_id": "user123",
        "prompt": "beautiful anime girl, detailed face",
        "negative_prompt": "low quality, blurry",
        "checkpoint": "animefull_final.safetensors",
        "width": 512,
        "height": 768,
        "steps": 20,
        "cfg_scale": 7.0,
        "sampler_name": "DPM++ 2M Karras",
    },
    request_only=True,
)


MINIMAL_TXT2IMG = OpenApiExample(
    "Only a prompt (server and session defaults for the rest)",
    value={"user_id": "user123", "prompt": "a lighthouse at dusk, oil painting"},
    request_only=True,
)


def generate_schema(
    serializer, summary: str, files: dict[str, str] | None = None, many=(), examples=()
):
    """JSON always; multipart, with its own schema, only for kinds that take files."""
    request = {"application/json": serializer}
    if files:
        request["multipart/form-data"] = upload_variant(serializer, files, many)
    return extend_schema(
        request=request,
        responses=GENERATE_RESPONSES,
        parameters=[IDEMPOTENCY_KEY],
        examples=list(examples),
        summary=summary,
        description=GENERATE_DESCRIPTION,
        tags=["generation"],
    )


EXTENSION_ERRORS = {**ERRORS, 409: ErrorSerializer, 503: ErrorSerializer}


EXTENSION_GENERATE_RESPONSES = {
    202: JobSerializer,
    200: GENERATE_RESPONSES[200],
    **errors(GENERATE, e409="No enabled backend has the extension."),
}


CATALOG_RESPONSES = errors(
    READ,
    409,
    503,
    e409="No backend has the ControlNet extension.",
    e503="No backend answered.",
)


IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER,
    description="Retrying with the same key returns the first job (200), never a second.",
)  # fmt: skip
