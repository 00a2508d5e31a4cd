"""POST /generate/txt2img, img2img, outpaint: validate, then the one door (admission)."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.parsers import JSON_AND_FILES
from core.uploads import NO_FILES, FileFields
from generation_app.admission import intake
from generation_app.admission.service import Admitted, Plan, submit
from generation_app.api.schema import BRIEF_TXT2IMG, MINIMAL_TXT2IMG, generate_schema
from generation_app.api.serializers import (
    Img2ImgRequestSerializer,
    OutpaintRequestSerializer,
    Txt2ImgRequestSerializer,
)
from generation_app.delivery.documents import (
    job_body,
)
from generation_app.jobs.build import JobRequest, build_job
from generation_app.jobs.context import GenerationContext
from generation_app.models import Job


class GenerateView(APIView):
    """Base for POST /generate/<kind>: validate, build the job, answer 202 at once."""

    serializer_class = Txt2ImgRequestSerializer
    kind = Job.Kind.TXT2IMG
    file_fields = NO_FILES  # multipart file fields this kind takes

    def post(self, request: Request) -> Response:
        received = intake.request_data(request, self.file_fields)
        serializer = self.serializer_class(data=self.prepare(received, request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        img2img = self.kind in (Job.Kind.IMG2IMG, Job.Kind.OUTPAINT) or "init_images" in data
        submission = intake.submission(request, data, received, self.kind, img2img=img2img)
        admitted = submit(submission, lambda context: Plan([build_job(self.build(data, context))]))
        if admitted.dry_run is not None:
            return Response(admitted.dry_run)
        return admitted_response(job_body(admitted.job, request), admitted.created)

    def prepare(self, data: dict, request: Request) -> dict:
        """Fill the raw request before validation (a hook for kinds that need it)."""
        return data

    def build(self, data: dict, context: GenerationContext) -> JobRequest:
        """The job this kind makes of the validated request."""
        return intake.txt2img(data, context, kind=self.kind)


def admit_generation(
    principal: Any,
    body: dict[str, Any],
    *,
    base_url: str = "",
    idempotency_key: str | None = None,
    parent: tuple[Any, int] | None = None,
) -> Admitted:
    """A txt2img (or, with ``init_images``, an img2img) request that did not come over
    REST — a Discord interaction, an action on a gallery image — validated like one and
    admitted by the one door. ``parent``: (job id, image index) it was made from."""
    img2img = bool(body.get("init_images"))
    serializer_class = Img2ImgRequestSerializer if img2img else Txt2ImgRequestSerializer
    serializer = serializer_class(data=body)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    kind = Job.Kind.IMG2IMG if img2img else Job.Kind.TXT2IMG
    build = intake.img2img if img2img else intake.txt2img
    submission = intake.submission_for(
        principal, data, body, kind, base_url=base_url, idempotency_key=idempotency_key,
        img2img=img2img,
    )  # fmt: skip
    lineage = {"parent_job_id": parent[0], "parent_image_index": parent[1]} if parent else {}
    return submit(submission, lambda context: Plan([build_job(build(data, context), **lineage)]))


def admitted_response(body: dict, created: bool) -> Response:
    """202 for a new job (or sweep), 200 for a replayed Idempotency-Key, with Location."""
    headers = {"Location": body["links"]["self"]}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return Response(
        body, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK, headers=headers
    )


class Txt2ImgView(GenerateView):
    @generate_schema(
        Txt2ImgRequestSerializer, "Text to image", examples=[BRIEF_TXT2IMG, MINIMAL_TXT2IMG]
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


class Img2ImgView(GenerateView):
    serializer_class = Img2ImgRequestSerializer
    kind = Job.Kind.IMG2IMG
    file_fields = FileFields({"init_image", "init_images", "mask"})
    parser_classes = JSON_AND_FILES

    @generate_schema(
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

    def build(self, data, context):
        return intake.img2img(data, context)


class OutpaintView(GenerateView):
    serializer_class = OutpaintRequestSerializer
    kind = Job.Kind.OUTPAINT
    file_fields = FileFields({"image"})
    parser_classes = JSON_AND_FILES

    @generate_schema(
        OutpaintRequestSerializer,
        "Extend an image beyond its borders",
        files={"image": "The picture to extend.", "mask": "Optional mask (white = repaint)."},
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    def build(self, data, context):
        return intake.outpaint(data, context)
