from django.urls import path, register_converter

from communities import views


class CommunityIdConverter:
    """A community id as POST /communities takes it (so a longer one is a 404, and the
    OpenAPI document bounds it)."""

    regex = r"[A-Za-z0-9._:-]{1,100}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(CommunityIdConverter, "community")

urlpatterns = [
    path("communities", views.CommunityListView.as_view(), name="communities"),
    path(
        "communities/<community:community_id>",
        views.CommunityDetailView.as_view(),
        name="community",
    ),
    path(
        "communities/<community:community_id>/channels/<community:channel_id>",
        views.ChannelView.as_view(),
        name="community-channel",
    ),
    path(
        "communities/<community:community_id>/policy",
        views.PolicyView.as_view(),
        name="community-policy",
    ),
    path(
        "communities/<community:community_id>/bans",
        views.BanListView.as_view(),
        name="community-bans",
    ),
    path(
        "communities/<community:community_id>/bans/<str:user_id>",
        views.BanDetailView.as_view(),
        name="community-ban",
    ),
    path(
        "communities/<community:community_id>/audit",
        views.AuditView.as_view(),
        name="community-audit",
    ),
    path("me", views.MeView.as_view(), name="me"),
    path("users/<str:user_id>/usage", views.UsageView.as_view(), name="user-usage"),
]
