"""TODO."""

from __future__ import annotations

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.auth import check_user_access
from core.parsers import JSON_AND_FILES
from core.throttles import check_generation_rate
from core.uploads import NO_FILES, FileFields
from generation_app.admission import intake
from generation_app.admission.scripts import check_scripts
from generation_app.admission.service import create_job
from generation_app.api.schema import BRIEF_TXT2IMG, MINIMAL_TXT2IMG, _generate_schema
from generation_app.api.serializers import (
    Img2ImgRequestSerializer,
    OutpaintRequestSerializer,
    Txt2ImgRequestSerializer,
)
from generation_app.delivery import webhooks
from generation_app.delivery.documents import (
    job_body,
)
from generation_app.jobs.build import JobRequest
from generation_app.jobs.context import GenerationContext, read_context
from generation_app.models import Job


class GenerateView(APIView):
    """Base for POST /generate/<kind>: validate, build the job, answer 202 at once."""

    serializer_class = Txt2ImgRequestSerializer
    kind = Job.Kind.TXT2IMG
    file_fields = NO_FILES  # multipart file fields this kind takes

    def post(self, request: Request) -> Response:
        received = intake.request_data(request, self.file_fields)
        fingerprint = intake.fingerprint(received)
        data = self.prepare(received, request)
        serializer = self.serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        check_user_access(request, data["user_id"])
        check_generation_rate(request, data["user_id"])
        img2img = self.kind in (Job.Kind.IMG2IMG, Job.Kind.OUTPAINT) or "init_images" in data
        check_scripts(request.user, data, img2img=img2img)
        context = read_context(data["user_id"], data.get("preset_id"))
        job_request = self.build(data, request, context)
        job_request.priority = getattr(request.user, "priority", 0)
        job_request.fingerprint = fingerprint
        job_request.webhook_url, job_request.api_key_id = webhooks.webhook_for(
            data.get("webhook_url"), request.user
        )
        job_request.base_url = request.build_absolute_uri("/").rstrip("/")
        job, created = create_job(job_request)
        body = job_body(job, request)
        headers = {"Location": body["links"]["self"]}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return Response(
            body,
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
            headers=headers,
        )

    def prepare(self, data: dict, request: Request) -> dict:
        """Fill the raw request before validation (a hook for kinds that need it)."""
        return data

    def build(self, data: dict, request: Request, context: GenerationContext) -> JobRequest:
        return intake.txt2img(data, request, context, kind=self.kind)


class Txt2ImgView(GenerateView):
    @_generate_schema(
        Txt2ImgRequestSerializer, "Text to image", examples=[BRIEF_TXT2IMG, MINIMAL_TXT2IMG]
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


class Img2ImgView(GenerateView):
    serializer_class = Img2ImgRequestSerializer
    kind = Job.Kind.IMG2IMG
    file_fields = FileFields({"init_image", "init_images", "mask"})
    parser_classes = JSON_AND_FILES

    @_generate_schema(
        Img2ImgRequestSerializer,
        "Image to image; with a mask, inpainting",
        files={
            "init_image": "The picture to start from.",
            "init_images": "Several pictures (at most batch_size).",
            "mask": "White = repaint (inpainting).",
        },
        many=("init_images",),
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    def build(self, data, request, context):
        return intake.img2img(data, request, context)


class OutpaintView(GenerateView):
    serializer_class = OutpaintRequestSerializer
    kind = Job.Kind.OUTPAINT
    file_fields = FileFields({"image"})
    parser_classes = JSON_AND_FILES

    @_generate_schema(
        OutpaintRequestSerializer,
        "Extend an image beyond its borders",
        files={"image": "The picture to extend.", "mask": "Optional mask (white = repaint)."},
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    def build(self, data, request, context):
        return intake.outpaint(data, request, context)
