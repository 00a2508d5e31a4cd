"""The gallery over HTTP: a user's images, favourites, tags, deletion, and new jobs from
an image (rerun, variations, upscale, remix) or a preset of it."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound as DRFNotFound
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.auth import check_user_access
from core.errors import NotFound
from core.openapi import READ, WRITE, errors
from core.query import read_query
from generation_app.admission import intake
from generation_app.api.generate import admitted_response
from generation_app.api.schema import GENERATE_RESPONSES, IDEMPOTENCY_KEY
from generation_app.delivery.documents import job_body
from generation_app.gallery import actions, edits
from generation_app.gallery.selectors import gallery
from generation_app.gallery.serializers import (
    GalleryImageSerializer,
    GalleryPageSerializer,
    GalleryQuerySerializer,
    PresetRefSerializer,
    RemixSerializer,
    RerunSerializer,
    SavePresetSerializer,
    TagsSerializer,
    UpscaleImageSerializer,
    VariationsSerializer,
)
from generation_app.models import JobImage

TAGS = ["gallery"]


class GalleryPagination(CursorPagination):
    ordering = "-id"
    page_size = 30
    page_size_query_param = "page_size"
    max_page_size = 100

    def decode_cursor(self, request):
        """A cursor the hub did not give is a 400 naming the parameter (DRF says 404)."""
        try:
            return super().decode_cursor(request)
        except DRFNotFound:
            raise ValidationError(
                {"cursor": ["Not a cursor this API gave: follow `next` as it is."]}
            ) from None


def own_image(request: Request, image_id: int) -> JobImage:
    """The image, if the caller's key may act for its user (404 either way, so a stranger
    learns nothing of which ids exist)."""
    image = (
        JobImage.objects.select_related("job").filter(pk=image_id, role=JobImage.Role.IMAGE).first()
    )
    if image is None or not request.user.may_act_for(image.job.user_id):
        raise NotFound(f"No image {image_id} of yours.", code="image_not_found")
    return image


class GalleryView(APIView):
    @extend_schema(
        summary="A user's images, newest first",
        parameters=[GalleryQuerySerializer],
        responses={200: GalleryPageSerializer, **errors(READ, 400)},
        tags=TAGS,
    )
    def get(self, request: Request, user_id: str) -> Response:
        check_user_access(request, user_id)
        query = read_query(request, GalleryQuerySerializer)
        paginator = GalleryPagination()
        page = paginator.paginate_queryset(gallery(user_id, query), request, self)
        context = {"request": request}
        return paginator.get_paginated_response(
            GalleryImageSerializer(page, many=True, context=context).data
        )


class ImageDetailView(APIView):
    @extend_schema(
        summary="One of your images",
        responses={200: GalleryImageSerializer, **errors(READ, 404)},
        tags=TAGS,
    )
    def get(self, request: Request, image_id: int) -> Response:
        return Response(
            GalleryImageSerializer(own_image(request, image_id), context={"request": request}).data
        )

    @extend_schema(
        summary="Delete an image (its files too)",
        responses={204: None, **errors(READ, 404)},
        tags=TAGS,
    )
    def delete(self, request: Request, image_id: int) -> Response:
        edits.delete_image(own_image(request, image_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class FavoriteView(APIView):
    @extend_schema(
        summary="Star an image",
        request=None,
        responses={200: GalleryImageSerializer, **errors(READ, 404)},
        tags=TAGS,
    )
    def post(self, request: Request, image_id: int) -> Response:
        return self._set(request, image_id, True)

    @extend_schema(
        summary="Unstar an image",
        responses={200: GalleryImageSerializer, **errors(READ, 404)},
        tags=TAGS,
    )
    def delete(self, request: Request, image_id: int) -> Response:
        return self._set(request, image_id, False)

    def _set(self, request: Request, image_id: int, favorite: bool) -> Response:
        image = edits.set_favorite(own_image(request, image_id), favorite)
        return Response(GalleryImageSerializer(image, context={"request": request}).data)


class TagsView(APIView):
    @extend_schema(
        summary="Set an image's tags",
        request=TagsSerializer,
        responses={200: GalleryImageSerializer, **errors(WRITE, 404)},
        tags=TAGS,
    )
    def put(self, request: Request, image_id: int) -> Response:
        image = own_image(request, image_id)
        body = TagsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        edits.set_tags(image, body.validated_data["tags"])
        image = own_image(request, image_id)
        return Response(GalleryImageSerializer(image, context={"request": request}).data)


class ImageActionView(APIView):
    """Base: validate the action's body, run it through the one door, answer like a
    create (202, or 200 for a replayed Idempotency-Key)."""

    serializer_class = RerunSerializer

    def post(self, request: Request, image_id: int) -> Response:
        image = own_image(request, image_id)
        body = self.serializer_class(data=request.data)
        body.is_valid(raise_exception=True)
        door = {"base_url": request.build_absolute_uri("/").rstrip("/"),
                "idempotency_key": intake.idempotency_key(request)}  # fmt: skip
        admitted = self.act(request.user, image, body.validated_data, door)
        return admitted_response(job_body(admitted.job, request), admitted.created)

    def act(self, principal, image, data, door):
        raise NotImplementedError


def _action_schema(serializer, summary: str):
    return extend_schema(summary=summary, request=serializer, tags=TAGS,
                         parameters=[IDEMPOTENCY_KEY],
                         responses=GENERATE_RESPONSES)  # fmt: skip


class RerunView(ImageActionView):
    serializer_class = RerunSerializer

    @_action_schema(RerunSerializer, "Run the image's request again (new seed, or the one given)")
    def post(self, request, image_id):
        return super().post(request, image_id)

    def act(self, principal, image, data, door):
        return actions.rerun(principal, image, data.get("seed", -1), **door)


class VariationsView(ImageActionView):
    serializer_class = VariationsSerializer

    @_action_schema(VariationsSerializer, "Variations: the image's seed with new subseeds")
    def post(self, request, image_id):
        return super().post(request, image_id)

    def act(self, principal, image, data, door):
        return actions.variations(principal, image, data["count"], data["subseed_strength"], **door)


class UpscaleImageView(ImageActionView):
    serializer_class = UpscaleImageSerializer

    @_action_schema(UpscaleImageSerializer, "Upscale the image")
    def post(self, request, image_id):
        return super().post(request, image_id)

    def act(self, principal, image, data, door):
        return actions.upscale(principal, image, data["scale"], data.get("upscaler"), **door)


class RemixView(ImageActionView):
    serializer_class = RemixSerializer

    @_action_schema(RemixSerializer, "Remix: img2img from the image with a new prompt")
    def post(self, request, image_id):
        return super().post(request, image_id)

    def act(self, principal, image, data, door):
        return actions.remix(
            principal, image, data["prompt"], data["denoising_strength"],
            data.get("negative_prompt"), **door,
        )  # fmt: skip


class ImagePresetView(APIView):
    @extend_schema(summary="Save the image's request as a preset", request=SavePresetSerializer,
                   responses={201: PresetRefSerializer, **errors(WRITE, 404)}, tags=TAGS)  # fmt: skip
    def post(self, request: Request, image_id: int) -> Response:
        image = own_image(request, image_id)
        body = SavePresetSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        preset = actions.as_preset(image, body.validated_data["name"])
        return Response(
            {"preset_id": preset.pk, "name": preset.name}, status=status.HTTP_201_CREATED
        )
