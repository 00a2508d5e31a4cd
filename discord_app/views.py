"""POST /discord/interactions: Discord's Interactions Endpoint URL. The signature is the
authentication; it is checked on the raw body before anything is parsed."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from discord_app.interactions import respond
from discord_app.verify import BadSignature, verify

logger = logging.getLogger(__name__)
MAX_BODY = 256 * 1024  # an interaction is a few kilobytes


@csrf_exempt
@require_POST
def interactions(request: HttpRequest) -> JsonResponse:
    body = request.body[: MAX_BODY + 1]
    if len(body) > MAX_BODY:
        return JsonResponse({"error": "payload_too_large"}, status=413)
    try:
        verify(
            settings.DISCORD_PUBLIC_KEY,
            request.headers.get("X-Signature-Ed25519", ""),
            request.headers.get("X-Signature-Timestamp", ""),
            body,
        )
    except BadSignature as exc:
        return JsonResponse({"error": "invalid_signature", "detail": str(exc)}, status=401)
    try:
        interaction = json.loads(body)
    except ValueError:
        return JsonResponse({"error": "malformed_request", "detail": "not JSON"}, status=400)
    if not isinstance(interaction, dict):
        return JsonResponse({"error": "malformed_request", "detail": "not an object"}, status=400)
    return JsonResponse(respond(interaction))
