"""Community endpoints: the community, its channels, the resolved policy, bans, the audit
log, and a user's budget usage."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from communities import budgets, services
from communities.limits import effective_limits
from communities.models import AuditEntry, Ban, Channel, Community
from communities.rooms import enter, get_community
from communities.serializers import (
    AuditEntrySerializer,
    AuditQuerySerializer,
    BanSerializer,
    ChannelSerializer,
    CommunitySerializer,
    CommunityUpdateSerializer,
    MeQuerySerializer,
    MeSerializer,
    PolicyQuerySerializer,
    ResolvedPolicySerializer,
    UsageQuerySerializer,
    UsageSerializer,
)
from core.auth import check_user_access
from core.errors import ApiError, NotFound
from core.openapi import READ, WRITE, errors, page_of
from core.query import read_query
from core.serializers import BoundedLimitOffsetPagination

TAGS = ["communities"]


class CommunityListView(APIView):
    @extend_schema(
        summary="Communities", responses={200: CommunitySerializer(many=True), **errors(READ)},
        tags=TAGS,
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        services.may_manage(request.user, None)
        communities = Community.objects.all()
        bound = request.user.community_id
        if bound:
            communities = communities.filter(pk=bound)
        return Response(CommunitySerializer(communities[:1000], many=True).data)

    @extend_schema(
        summary="Create a community",
        request=CommunitySerializer,
        responses={201: CommunitySerializer, **errors(WRITE, 409)},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        body = CommunitySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        services.may_manage(request.user, data["id"])
        community = services.create_community(
            data["id"], data["name"], data.get("policy"), data.get("defaults")
        )
        return Response(CommunitySerializer(community).data, status=status.HTTP_201_CREATED)


class CommunityDetailView(APIView):
    @extend_schema(
        summary="A community", responses={200: CommunitySerializer, **errors(READ, 404)},
        tags=TAGS,
    )  # fmt: skip
    def get(self, request: Request, community_id: str) -> Response:
        services.may_manage(request.user, community_id)
        return Response(CommunitySerializer(get_community(community_id)).data)

    @extend_schema(
        summary="Change a community's name, policy or defaults",
        request=CommunityUpdateSerializer,
        responses={200: CommunitySerializer, **errors(WRITE, 404)},
        tags=TAGS,
    )
    def patch(self, request: Request, community_id: str) -> Response:
        services.may_manage(request.user, community_id)
        body = CommunityUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        community = services.update_community(community_id, body.validated_data)
        return Response(CommunitySerializer(community).data)


class ChannelView(APIView):
    @extend_schema(
        summary="Set a channel's flag, policy and defaults",
        request=ChannelSerializer,
        responses={200: ChannelSerializer, **errors(WRITE, 404)},
        tags=TAGS,
    )
    def put(self, request: Request, community_id: str, channel_id: str) -> Response:
        services.may_manage(request.user, community_id)
        body = ChannelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        channel = services.put_channel(community_id, channel_id, body.validated_data)
        return Response(ChannelSerializer(channel).data)

    @extend_schema(
        summary="A channel", responses={200: ChannelSerializer, **errors(READ, 404)}, tags=TAGS
    )
    def get(self, request: Request, community_id: str, channel_id: str) -> Response:
        services.may_manage(request.user, community_id)
        channel = Channel.objects.filter(community_id=community_id, channel_id=channel_id).first()
        if channel is None:
            raise NotFound(f"No channel {channel_id!r} in community {community_id!r}.")
        return Response(ChannelSerializer(channel).data)

    @extend_schema(
        summary="Forget a channel", responses={204: None, **errors(READ, 404)}, tags=TAGS
    )
    def delete(self, request: Request, community_id: str, channel_id: str) -> Response:
        services.may_manage(request.user, community_id)
        Channel.objects.filter(community_id=community_id, channel_id=channel_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class PolicyView(APIView):
    @extend_schema(
        summary="The policy that applies in a community (and channel), resolved",
        parameters=[PolicyQuerySerializer],
        responses={200: ResolvedPolicySerializer, **errors(READ, 400, 404)},
        tags=TAGS,
    )
    def get(self, request: Request, community_id: str) -> Response:
        services.may_manage(request.user, community_id)
        channel_id = read_query(request, PolicyQuerySerializer).get("channel_id")
        room = enter(request.user, "", community_id, channel_id)
        return Response(
            {
                "community_id": community_id,
                "channel_id": channel_id,
                "channel_nsfw": room.channel_nsfw,
                "nsfw": room.nsfw,
                **room.policy.as_dict(),
                "defaults": room.defaults,
            }
        )


class BanListView(APIView):
    @extend_schema(
        summary="Banned users", responses={200: BanSerializer(many=True), **errors(READ, 404)},
        tags=TAGS,
    )  # fmt: skip
    def get(self, request: Request, community_id: str) -> Response:
        services.may_manage(request.user, community_id)
        get_community(community_id)
        bans = Ban.objects.filter(community_id=community_id)[:1000]
        return Response(BanSerializer(bans, many=True).data)

    @extend_schema(
        summary="Ban a user from a community",
        request=BanSerializer,
        responses={201: BanSerializer, **errors(WRITE, 404)},
        tags=TAGS,
    )
    def post(self, request: Request, community_id: str) -> Response:
        services.may_manage(request.user, community_id)
        body = BanSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ban = services.ban(
            community_id, body.validated_data["user_id"], body.validated_data["reason"],
            request.user.name,
        )  # fmt: skip
        return Response(BanSerializer(ban).data, status=status.HTTP_201_CREATED)


class BanDetailView(APIView):
    @extend_schema(summary="Lift a ban", responses={204: None, **errors(READ, 404)}, tags=TAGS)
    def delete(self, request: Request, community_id: str, user_id: str) -> Response:
        services.may_manage(request.user, community_id)
        if not services.unban(community_id, user_id):
            raise NotFound(f"User {user_id!r} is not banned from {community_id!r}.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuditView(APIView):
    @extend_schema(
        summary="What was asked for in a community, and the verdicts",
        parameters=[AuditQuerySerializer],
        responses={200: page_of(AuditEntrySerializer), **errors(READ, 400, 404)},
        tags=TAGS,
    )
    def get(self, request: Request, community_id: str) -> Response:
        services.may_manage(request.user, community_id)
        get_community(community_id)
        query = read_query(request, AuditQuerySerializer)
        entries = AuditEntry.objects.filter(community_id=community_id)
        for name in ("user_id", "channel_id", "verdict"):
            if query.get(name):
                entries = entries.filter(**{name: query[name]})
        for word in (query.get("q") or "").split()[:5]:
            entries = entries.filter(prompt__icontains=word)
        paginator = BoundedLimitOffsetPagination()
        page = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(AuditEntrySerializer(page, many=True).data)


class UsageView(APIView):
    @extend_schema(
        summary="A user's budget in a community: spent, left, when it refills",
        parameters=[UsageQuerySerializer],
        responses={200: UsageSerializer, **errors(READ, 400, 404)},
        tags=TAGS,
    )
    def get(self, request: Request, user_id: str) -> Response:
        check_user_access(request, user_id)
        query = read_query(request, UsageQuerySerializer)
        community_id = query.get("community_id") or request.user.community_id
        if not community_id:
            raise ApiError("Say which community: ?community_id=<id>.", code="community_id_required")
        room = enter(request.user, user_id, community_id)
        return Response(budgets.usage(room, user_id))


class MeView(APIView):
    @extend_schema(
        summary="Who this key is, and the limits that apply to it",
        description="The key's user (empty for a service key) and, for each cap (steps, "
        "width, height, images, pixels, active jobs), the tightest of the hub's setting and "
        "the policy that applies (global < community < channel < key), with who set it. "
        "Clients show these as bounds; a create request past one is still refused with the "
        "rule that refused it. Read-only.",
        parameters=[MeQuerySerializer],
        responses={200: MeSerializer, **errors(READ, 400, 404)},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        query = read_query(request, MeQuerySerializer)
        community_id = query.get("community_id") or None
        channel_id = query.get("channel_id") or None
        room = enter(request.user, request.user.user_id, community_id, channel_id)
        return Response(
            {
                "user_id": request.user.user_id,
                "key_name": request.user.name,
                "is_service": request.user.is_service,
                "community_id": room.community_id or None,
                "channel_id": room.channel_id or None,
                **effective_limits(room),
            }
        )
