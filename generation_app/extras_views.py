"""POST /png-info, /upscale, /interrogate: thin views over generation_app.extras."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.parsers import JSON_AND_FILES
from core.serializers import ErrorSerializer
from core.uploads import FileFields
from generation_app import extras, intake
from generation_app.images import check_image

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
            "multipart/form-data": PngInfoRequestSerializer,
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
        return Response(extras.png_info(image, data.get("infotext")))
