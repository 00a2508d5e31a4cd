"""POST /png-info, /upscale, /interrogate: thin views over generation_app.extras."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import upload_variant
from core.parsers import JSON_AND_FILES
from core.serializers import ErrorSerializer
from core.uploads import FileFields
from generation_app.admission import intake
from generation_app.api.generate import admitted_response
from generation_app.api.schema import GENERATE_RESPONSES, IDEMPOTENCY_KEY
from generation_app.delivery.documents import JobSerializer, job_body
from generation_app.extras import interrogate as interrogation
from generation_app.extras import pnginfo, upscale
from generation_app.extras import source as sources
from generation_app.media.uploads import check_image

IMAGE_FILE = FileFields({"image"})
ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 413: ErrorSerializer}
# A 1x1 PNG whose "parameters" chunk holds a short A1111 infotext (for /docs' Try it out).
EXAMPLE_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAAd3RFWHRwYXJhbWV0ZXJzAGEgY2F0IGluIHRoZSBz"
    "bm93ClN0ZXBzOiAyMCwgU2FtcGxlcjogRFBNKysgMk0sIFNjaGVkdWxlIHR5cGU6IEthcnJhcywgQ0ZHIHNjYWxl"
    "OiA3LCBTZWVkOiA0MiwgU2l6ZTogNTEyeDUxMvVZn2EAAAAMSURBVHicY/j//z8ABf4C/g3vRrgAAAAASUVORK5C"
    "YII="
)


class PngInfoRequestSerializer(serializers.Serializer):
    image = serializers.CharField(
        required=False,
        help_text="The picture: a multipart file, or base64 (a data: URI is fine).",
    )
    infotext = serializers.CharField(
        required=False,
        max_length=65536,
        trim_whitespace=False,
        help_text="Instead of an image: the parameters text itself.",
    )

    def validate(self, attrs):
        if bool(attrs.get("image")) == bool(attrs.get("infotext")):
            raise serializers.ValidationError("Send either image or infotext.")
        return attrs


class PngInfoSerializer(serializers.Serializer):
    infotext = serializers.CharField(help_text="A1111's parameters text, as found.")
    kind = serializers.ChoiceField(
        ["txt2img", "controlnet"], help_text="The POST /generate/<kind> the request fits."
    )
    request = serializers.DictField(
        help_text="Fields of POST /generate/* (add user_id): checkpoint as this hub's title, "
        "LoRAs as catalog filenames, sampler_name + scheduler, hires fix, ControlNet units."
    )
    warnings = serializers.ListField(
        child=serializers.CharField(),
        help_text="What this hub's backends lack (checkpoint, LoRA, sampler…) or cannot carry.",
    )
    unused = serializers.DictField(help_text="Infotext keys no request field carries.")
    parameters = serializers.DictField(help_text="The infotext as A1111's parser reads it.")
    postprocessing = serializers.CharField(
        allow_null=True, help_text="The image's 'postprocessing' chunk (extras), if any."
    )


class PngInfoView(APIView):
    parser_classes = JSON_AND_FILES

    @extend_schema(
        summary="Read a picture's generation parameters into a hub request",
        description=(
            "Upload a PNG made by A1111 or this hub (multipart `image`, or base64 `image` in "
            "JSON; JPEG/WebP with an EXIF UserComment work too), or send `infotext`. The answer's "
            "`request`, with a `user_id` added, can be POSTed to `/generate/{kind}` as it is. "
            "Read by the hub itself: no backend is needed."
        ),
        request={
            "application/json": PngInfoRequestSerializer,
            "multipart/form-data": upload_variant(
                PngInfoRequestSerializer, {"image": "The PNG (or JPEG/WebP) to read."}
            ),
        },
        responses={200: PngInfoSerializer, **ERRORS},
        examples=[
            OpenApiExample("A PNG, base64", value={"image": EXAMPLE_PNG}, request_only=True),
            OpenApiExample(
                "An infotext",
                value={
                    "infotext": "a cat <lora:add_detail:0.6>\nNegative prompt: blurry\n"
                    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, "
                    "Seed: 42, Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly"
                },
                request_only=True,
            ),
        ],
        tags=["extras"],
    )
    def post(self, request: Request) -> Response:
        body = PngInfoRequestSerializer(data=intake.request_data(request, IMAGE_FILE))
        body.is_valid(raise_exception=True)
        data = body.validated_data
        image = check_image(data["image"], "image") if data.get("image") else None
        return Response(pnginfo.png_info(image, data.get("infotext")))


class UpscaleView(APIView):
    parser_classes = JSON_AND_FILES

    @extend_schema(
        summary="Upscale a picture or a result (A1111 extras), as a job",
        description=(
            "Runs `/sdapi/v1/extra-single-image` on a backend as a job like any other: 202 with "
            "the job, then progress, `GET /jobs/{id}/result` (one image) and the gallery. "
            "`upscaling_resize` scales by (default 2); `upscaling_resize_w`/`_h` scale to a "
            "size. `upscaler_2` blends a second upscaler at `extras_upscaler_2_visibility`; "
            "`gfpgan_visibility`/`codeformer_visibility` restore faces. An unknown upscaler is "
            "a 400 listing the valid ones (A1111 would answer a 500 AssertionError)."
        ),
        request={
            "application/json": upscale.UpscaleRequestSerializer,
            "multipart/form-data": upload_variant(
                upscale.UpscaleRequestSerializer, {"image": "The picture to upscale."}
            ),
        },
        responses={
            202: JobSerializer,
            200: GENERATE_RESPONSES[200],
            404: ErrorSerializer,
            422: ErrorSerializer,
            429: ErrorSerializer,
            **ERRORS,
        },  # fmt: skip
        parameters=[IDEMPOTENCY_KEY],
        examples=[
            OpenApiExample(
                "A result, 2x, with CodeFormer",
                value={
                    "job_id": "5f0c6c1e-8a8e-4c52-9a39-0b7f0c1f1f7a",
                    "index": 0,
                    "upscaler_1": "R-ESRGAN 4x+",
                    "upscaling_resize": 2,
                    "codeformer_visibility": 0.5,
                    "codeformer_weight": 0.3,
                },
                request_only=True,
            ),
            OpenApiExample(
                "An upload, to 1024x1024",
                value={
                    "user_id": "user123",
                    "image": EXAMPLE_PNG,
                    "upscaler_1": "Lanczos",
                    "upscaling_resize_w": 1024,
                    "upscaling_resize_h": 1024,
                },
                request_only=True,
            ),
        ],
        tags=["extras"],
    )
    def post(self, request: Request) -> Response:
        received = intake.request_data(request, IMAGE_FILE)
        admitted = upscale.admit_upscale(
            request.user,
            received,
            base_url=request.build_absolute_uri("/").rstrip("/"),
            idempotency_key=intake.idempotency_key(request),
        )
        if admitted.dry_run is not None:
            return Response(admitted.dry_run)
        return admitted_response(job_body(admitted.job, request), admitted.created)


class InterrogateRequestSerializer(serializers.Serializer):
    image = serializers.CharField(
        required=False, help_text="The picture: a multipart file, or base64 (a data: URI is fine)."
    )
    job_id = serializers.UUIDField(required=False, help_text="Instead of image: a job's result…")
    index = serializers.IntegerField(required=False, default=0, min_value=0)
    model = serializers.ChoiceField(
        sorted(interrogation.INTERROGATE_MODELS),
        default="clip",
        help_text="clip (a sentence) or deepbooru (tags; A1111 calls it deepdanbooru).",
    )

    def validate(self, attrs):
        if bool(attrs.get("image")) == bool(attrs.get("job_id")):
            raise serializers.ValidationError("Send either image or job_id (+ index).")
        return attrs


class CaptionSerializer(serializers.Serializer):
    caption = serializers.CharField()
    model = serializers.CharField()
    backend = serializers.CharField(help_text="The backend that captioned it.")


class InterrogateView(APIView):
    parser_classes = JSON_AND_FILES

    @extend_schema(
        summary="Caption a picture (CLIP or DeepBooru)",
        description=(
            "A direct answer from a free backend. A1111 captions under its queue lock, so a "
            "backend running a job is not asked: when every backend is busy the answer is a "
            "429 at once (`backends_busy`). A key runs HUB_MAX_CAPTIONS_PER_KEY captions at "
            "once and a web process HUB_MAX_CAPTIONS_PER_PROCESS (429 past them); a job "
            "that starts on the backend meanwhile makes it wait at most "
            "HUB_INTERROGATE_TIMEOUT seconds (then 504). The caption can feed a prompt."
        ),
        request={
            "application/json": InterrogateRequestSerializer,
            "multipart/form-data": upload_variant(
                InterrogateRequestSerializer, {"image": "The picture to describe."}
            ),
        },
        responses={
            200: CaptionSerializer,
            404: ErrorSerializer,
            429: ErrorSerializer,
            503: ErrorSerializer,
            504: ErrorSerializer,
            **ERRORS,
        },
        examples=[
            OpenApiExample(
                "CLIP", value={"image": EXAMPLE_PNG, "model": "clip"}, request_only=True
            ),
            OpenApiExample(
                "Tags of a result",
                value={"job_id": "5f0c6c1e-8a8e-4c52-9a39-0b7f0c1f1f7a", "model": "deepbooru"},
                request_only=True,
            ),
            OpenApiExample(
                "Answer",
                value={"caption": "a red fox in the snow", "model": "clip", "backend": "gpu-1"},
                response_only=True,
            ),
        ],
        tags=["extras"],
    )
    def post(self, request: Request) -> Response:
        body = InterrogateRequestSerializer(data=intake.request_data(request, IMAGE_FILE))
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if data.get("job_id"):
            image, _ = sources.source_image(request.user, data["job_id"], data["index"])
        else:
            image = check_image(data["image"], "image")
        key_id = getattr(request.user, "key_id", None)
        return Response(interrogation.caption(image, data["model"], key_id))
