"""/app: one HTML shell; everything else is static files and the public API.

The page holds no data and no secret: the client signs in with an API key it keeps in
sessionStorage and sends as ``Authorization: Bearer`` to the same API every client uses.
So the view only renders the shell, with a Content-Security-Policy that allows nothing
but the hub's own scripts, styles, images and API (no inline code, no CDN).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_safe


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
