"""What the OpenAPI document says about every operation, in one place.

- ``errors(...)`` builds the error part of an operation's ``responses``: each status with the
  one error schema (core.serializers.ErrorSerializer) and what it means there.
- ``page_of(Serializer)`` is the paginated answer of a list endpoint
  (``{count, next, previous, results}``), as BoundedLimitOffsetPagination sends it.
- ``upload_variant(Serializer, files)`` is the multipart body of an operation that takes
  files: its own component, with the file fields as ``format: binary``, so a generated client
  can tell it from the JSON body.
- ``event_stream({event: data schema}, description)`` is a ``text/event-stream`` answer:
  its schema describes ONE event as an EventSource client reads it (``event``, ``id``,
  ``data`` as JSON text whose ``contentSchema`` is the payload), so a client generator and
  schemathesis can read every event the stream sends.
- ``postprocess`` (a drf-spectacular hook) adds what every operation can answer whatever
  its view says: 414 (a URL too long, answered by the web server), 401 and 429 on
  operations that take a key, 400/413/415 on operations with a body, 400 on operations
  with query parameters (core.query), and no form-urlencoded anywhere.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from core.serializers import ErrorSerializer

MEANINGS = {
    400: "The request is invalid: `fields` names each field and what is wrong with it "
    "(malformed_request when the body is not valid JSON).",
    401: "No API key, or an unknown, revoked or expired one (not_authenticated, "
    "invalid_api_key). Send `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
    403: "The key may not act for this user, or lacks the scope (forbidden).",
    404: "No such resource (the code says which: job_not_found, lora_not_found...).",
    409: "The resource is not in a state that allows this (the detail says what to do).",
    410: "Gone: the resource existed but was deleted (the detail says why).",
    413: "The body or an uploaded file is too large (HUB_MAX_UPLOAD_BYTES, "
    "HUB_MAX_UPLOAD_PIXELS, HUB_MAX_REQUEST_BYTES).",
    414: "The request line (method, path and query) is over 8190 bytes (uri_too_long): send "
    "fewer or shorter query parameters.",
    415: "Unsupported Content-Type: send application/json (multipart/form-data only where "
    "the operation takes files).",
    422: "The Idempotency-Key was used before with a different body.",
    429: "Too many requests for this key or user (rate limit, active-job cap or open "
    "streams); `Retry-After` says when to try again.",
    502: "The backend answered with an error.",
    503: "No backend can serve this right now (none enabled or none healthy); try again later.",
}

# Families: the statuses every operation of a kind can answer.
READ = (401, 403, 429)
WRITE = (400, 401, 403, 413, 415, 429)
GENERATE = (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)


def errors(*codes: int, **descriptions: str) -> dict[int, OpenApiResponse]:
    """``{status: OpenApiResponse(ErrorSerializer, ...)}`` for ``codes`` (flattened, so
    ``errors(*WRITE, 404)`` works). A keyword ``e409="..."`` overrides one description."""
    flat: list[int] = []
    for code in codes:
        flat.extend(code if isinstance(code, tuple | list) else [code])
    return {
        code: OpenApiResponse(
            ErrorSerializer, description=descriptions.get(f"e{code}", MEANINGS.get(code, ""))
        )
        for code in sorted(set(flat))
    }


_pages: dict[type, type] = {}


def page_of(serializer_class: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The page a limit/offset list endpoint answers, with ``serializer_class`` rows."""
    if serializer_class not in _pages:
        name = serializer_class.__name__.removesuffix("Serializer")
        _pages[serializer_class] = type(
            f"{name}PageSerializer",
            (serializers.Serializer,),
            {
                "__module__": serializer_class.__module__,
                "__doc__": f"One page of {name} rows, newest first.",
                "count": serializers.IntegerField(help_text="Rows in all pages."),
                "next": serializers.URLField(allow_null=True, help_text="The next page."),
                "previous": serializers.URLField(allow_null=True, help_text="The page before."),
                "results": serializer_class(many=True),
            },
        )
    return _pages[serializer_class]


_uploads: dict[tuple, type] = {}


def upload_variant(
    serializer_class: type[serializers.Serializer], files: dict[str, str], many: tuple = ()
) -> type[serializers.Serializer]:
    """The multipart body of ``serializer_class``: ``files`` ({field: help}) become binary
    file fields (``many``: lists of files), every other field stays as it is."""
    key = (serializer_class, tuple(sorted(files)), tuple(many))
    if key not in _uploads:
        name = serializer_class.__name__.removesuffix("Serializer").removesuffix("Request")
        attrs: dict = {
            "__module__": serializer_class.__module__,
            "__doc__": f"The multipart/form-data form of {name}: files as parts, other fields "
            "as text parts (lists and objects as JSON text).",
        }
        for field, help_text in files.items():
            file_field = serializers.FileField(required=False, help_text=help_text)
            if field in many:
                file_field = serializers.ListField(
                    child=serializers.FileField(), required=False, help_text=help_text
                )
            attrs[field] = file_field
        _uploads[key] = type(f"{name}UploadSerializer", (serializer_class,), attrs)
    return _uploads[key]


def component(name: str) -> dict:
    """A reference to a schema component of the document (e.g. ``Job``)."""
    return {"$ref": f"#/components/schemas/{name}"}


def event_stream(events: dict[str, dict], description: str) -> OpenApiResponse:
    """A ``text/event-stream`` answer sending ``events`` ({event name: schema of its JSON
    data}); ``id`` is on the events that have one, ``retry:`` and comments carry no data."""
    variants = []
    for names, data in _grouped(events):
        variants.append(
            {
                "type": "object",
                "required": ["event", "data"],
                "properties": {
                    "event": {"type": "string", "enum": names},
                    "id": {
                        "type": "string",
                        "pattern": "^[0-9]+$",
                        "description": "The event id: send it back as Last-Event-ID.",
                    },
                    "retry": {"type": "integer", "description": "Reconnect delay (ms)."},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": data,
                    },
                },
            }
        )
    schema = variants[0] if len(variants) == 1 else {"oneOf": variants}
    return OpenApiResponse(response=schema, description=description)


def _grouped(events: dict[str, dict]) -> list[tuple[list[str], dict]]:
    """Events sharing one data schema become one variant (``oneOf`` needs them apart)."""
    groups: list[tuple[list[str], dict]] = []
    for name, data in events.items():
        for names, known in groups:
            if known == data:
                names.append(name)
                break
        else:
            groups.append(([name], data))
    return groups


BODY_METHODS = {"post", "put", "patch"}


def _ref(code: int) -> dict:
    return {
        "description": MEANINGS[code],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def postprocess(result: dict, generator, request, public) -> dict:
    """Statuses every operation can answer, whatever its view declares; no form-urlencoded;
    a description on every operation."""
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete", "head", "options"}:
                continue
            responses = operation.setdefault("responses", {})
            body = operation.get("requestBody")
            if body:
                body.get("content", {}).pop("application/x-www-form-urlencoded", None)
                if len(body.get("content", {})) > 1:
                    # JSON or multipart. openapi-python-client 0.29 types a union body as
                    # optional whatever `required` says, and imports `Unset` only when it is
                    # not required: so it is not marked required (a missing body is a 400).
                    body.pop("required", None)
            if "security" in operation:  # two key headers, one scheme: name it once
                unique = []
                for requirement in operation["security"]:
                    if requirement not in unique:
                        unique.append(requirement)
                operation["security"] = unique
            for code, response in responses.items():
                content = response.get("content", {})
                if not code.startswith("2") and "application/json" in content:
                    content.pop("text/event-stream", None)  # errors are JSON, even on a stream
            secured = any(s for s in operation.get("security", [{}]) if s)
            needed = [414, 429]  # any URL may be too long; every view is throttled per key
            if secured:
                needed.append(401)
            if body or method in BODY_METHODS:
                needed += [400, 413, 415]
            if any(p.get("in") == "query" for p in operation.get("parameters", [])):
                needed.append(400)  # core.query: a bad parameter is a 400 naming it
            for code in needed:
                responses.setdefault(str(code), _ref(code))
            if not operation.get("description"):
                operation["description"] = operation.get("summary", "")
    return result
