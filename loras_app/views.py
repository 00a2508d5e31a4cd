"""LoRA catalog endpoints: thin views over loras_app.selectors, .search and .scan.runs."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.auth import HasApiKey, IsServiceKey, check_admin
from core.errors import NotFound
from core.query import read_query
from core.serializers import ErrorSerializer
from loras_app import search, selectors
from loras_app.scan import runs, sources
from loras_app.serializers import (
    AutocompleteQuerySerializer,
    ChoiceSerializer,
    LoraDetailSerializer,
    LoraPageSerializer,
    LoraQuerySerializer,
    LoraSerializer,
    ScanRequestSerializer,
    ScanRunSerializer,
)

TAGS = ["loras"]
LORA_EXAMPLE = {
    "filename": "character_lora.safetensors",
    "name": "character_lora",
    "prompt_name": "character_lora",
    "base_model": "SD1.5",
    "trigger_words": ["chara"],
    "tags": ["1girl", "solo"],
    "preferred_weight": 0.8,
    "preview_url": "http://localhost:8000/loras/character_lora.safetensors/preview",
    "short_hash": "3f1a0c9e2b7d",
    "size": 151108831,
    "enabled": True,
    "missing": False,
    "first_seen": "2025-01-04T12:00:00Z",
}


class LoraListView(APIView):
    """Search the catalog (fuzzy, ranked) or list it newest first."""

    @extend_schema(
        parameters=[LoraQuerySerializer],
        responses={200: LoraPageSerializer, 400: ErrorSerializer},
        examples=[
            OpenApiExample(
                "Search",
                value={"count": 1, "limit": 10, "offset": 0, "results": [LORA_EXAMPLE]},
                response_only=True,
            )
        ],
        tags=TAGS,
        summary="Search LoRAs",
        operation_id="loras_search",
        description="Typos, prefixes, word order and separators are forgiven; exact and "
        'prefix matches come first. `curl "/loras?search=anime&limit=10"`.',
    )
    def get(self, request: Request) -> Response:
        query = dict(read_query(request, LoraQuerySerializer))
        query["search_text"] = query.pop("search")
        total, rows = selectors.find_loras(**query)
        body = {
            "count": total,
            "limit": query["limit"],
            "offset": query["offset"],
            "results": LoraSerializer(rows, many=True, context={"request": request}).data,
        }
        return Response(body)


class LoraAutocompleteView(APIView):
    """Up to 25 choices for a keystroke-by-keystroke caller (Discord's limit)."""

    @extend_schema(
        parameters=[AutocompleteQuerySerializer],
        responses={200: ChoiceSerializer(many=True), 400: ErrorSerializer},
        examples=[
            OpenApiExample(
                "Choices",
                value=[
                    {
                        "name": "Character Lora (character_lora_v2.safetensors)",
                        "value": "character_lora_v2.safetensors",
                    }
                ],
                response_only=True,
            )
        ],
        tags=TAGS,
        summary="Autocomplete LoRA filenames",
        operation_id="loras_autocomplete",
    )
    def get(self, request: Request) -> Response:
        query = read_query(request, AutocompleteQuerySerializer)
        choices = search.autocomplete(query["q"], query["limit"])
        return Response(ChoiceSerializer(choices, many=True).data)


class LoraDetailView(APIView):
    """One LoRA with its metadata, tag frequencies, trigger words and preview URL."""

    @extend_schema(
        responses={200: LoraDetailSerializer, 404: ErrorSerializer},
        tags=TAGS,
        summary="One LoRA",
        operation_id="loras_get",
    )
    def get(self, request: Request, filename: str) -> Response:
        return Response(
            LoraDetailSerializer(selectors.get_lora(filename), context={"request": request}).data
        )


class LoraPreviewView(APIView):
    """The LoRA's preview image, as A1111 keeps it beside the file."""

    @extend_schema(
        responses={
            (200, "image/*"): OpenApiResponse(description="The image."),
            404: ErrorSerializer,
        },
        tags=TAGS,
        summary="LoRA preview image",
        operation_id="loras_preview",
    )
    def get(self, request: Request, filename: str):
        path = selectors.preview_path(selectors.get_lora(filename))
        if path is None:
            raise NotFound(
                f"LoRA {filename!r} has no preview image on this hub.", code="no_preview"
            )
        return FileResponse(open(path, "rb"))


class LoraCivitaiThumbnailView(APIView):
    """The small copy of Civitai's preview image the hub keeps (CIVITAI_ENRICH)."""

    @extend_schema(
        responses={
            (200, "image/jpeg"): OpenApiResponse(description="The image."),
            404: ErrorSerializer,
        },
        tags=TAGS,
        summary="LoRA thumbnail from Civitai",
        operation_id="loras_civitai_thumbnail",
    )
    def get(self, request: Request, filename: str):
        name = selectors.civitai_thumbnail(selectors.get_lora(filename))
        if name is None:
            raise NotFound(
                f"LoRA {filename!r} has no Civitai thumbnail on this hub.", code="no_preview"
            )
        return FileResponse(default_storage.open(name, "rb"), content_type="image/jpeg")


class ScanView(APIView):
    """Start a catalog scan in the background (service keys; pruning needs the admin scope)."""

    permission_classes = [HasApiKey, IsServiceKey]

    @extend_schema(
        request=ScanRequestSerializer,
        responses={
            202: ScanRunSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
        },
        examples=[
            OpenApiExample("Scan A1111", value={"source": "a1111"}, request_only=True),
            OpenApiExample(
                "Already running",
                value={
                    "error": "scan_running",
                    "detail": "A LoRA scan is already running (scan 7)…",
                    "scan_id": 7,
                },
                response_only=True,
                status_codes=["409"],
            ),
        ],
        tags=TAGS,
        summary="Scan for new LoRAs",
        operation_id="loras_scan",
        description="Answers 202 with the scan's id at once; read its progress and summary "
        "at `status_url`. Only one scan runs at a time (409 otherwise). Service keys only "
        "(a user key gets 403); `prune` also needs the admin scope.",
    )
    def post(self, request: Request) -> Response:
        body = ScanRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if data["prune"]:
            check_admin(request, "Pruning the catalog")
        source = sources.resolve_source(
            backend=data["backend"] or None, from_a1111=data["source"] == "a1111"
        )
        run = runs.start_scan(source, hashes=data["hashes"], prune=data["prune"])
        return Response(ScanRunSerializer(run).data, status=202)


class ScanDetailView(APIView):
    """A scan's status and, once finished, its summary and errors."""

    @extend_schema(
        responses={200: ScanRunSerializer, 404: ErrorSerializer},
        tags=TAGS,
        summary="Scan status",
        operation_id="loras_scan_status",
    )
    def get(self, request: Request, scan_id: int) -> Response:
        return Response(ScanRunSerializer(selectors.get_scan(scan_id)).data)
