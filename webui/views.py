"""/app: one HTML shell; everything else is static files and the public API.

The page holds no data and no secret: the client signs in with an API key it keeps in
sessionStorage and sends as ``Authorization: Bearer`` to the same API every client uses.
So the shell view only renders the page, with a Content-Security-Policy that allows
nothing but the hub's own scripts, styles, images and API (no inline code, no CDN). The
one other view trades a sign-in link's token for a key (``webui.links``).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST, require_safe

from webui.links import LinkError, redeem


def content_security_policy() -> str:
    """Only the hub itself; image links are signed on HUB_PUBLIC_URL when it is set, so
    that origin is allowed too (the same host behind a proxy, usually)."""
    images = ["'self'", "blob:", "data:"]
    connect = ["'self'"]
    if settings.HUB_PUBLIC_URL:
        parts = urlsplit(settings.HUB_PUBLIC_URL)
        origin = f"{parts.scheme}://{parts.netloc}"
        images.append(origin)
        connect.append(origin)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {' '.join(images)}",
            f"connect-src {' '.join(connect)}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


@require_safe
def app_shell(request):
    response = render(request, "webui/app.html", {"version": settings.HUB_VERSION})
    response["Content-Security-Policy"] = content_security_policy()
    response["Referrer-Policy"] = "same-origin"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-cache"
    return response


@require_POST
def sign_in_with_link(request):
    """Trade a sign-in link's token for a new user key. CSRF-checked like any form post
    (the shell carries the token), so another site cannot sign a visitor in as someone
    else."""
    try:
        token = json.loads(request.body or b"{}").get("token", "")
    except (ValueError, AttributeError):
        token = ""
    if not isinstance(token, str) or not token or len(token) > 1000:
        return JsonResponse(
            {"error": "invalid_request", "detail": 'Send {"token": ...}.'}, status=400
        )
    try:
        user_id, key = redeem(token)
    except LinkError as exc:
        return JsonResponse({"error": "link_invalid", "detail": str(exc)}, status=400)
    response = JsonResponse({"user_id": user_id, "key": key})
    response["Cache-Control"] = "no-store"
    return response
