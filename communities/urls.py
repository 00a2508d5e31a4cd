from django.urls import path

from communities import views

urlpatterns = [
    path("communities", views.CommunityListView.as_view(), name="communities"),
    path("communities/<str:community_id>", views.CommunityDetailView.as_view(), name="community"),
    path(
        "communities/<str:community_id>/channels/<str:channel_id>",
        views.ChannelView.as_view(),
        name="community-channel",
    ),
    path(
        "communities/<str:community_id>/policy", views.PolicyView.as_view(), name="community-policy"
    ),
    path("communities/<str:community_id>/bans", views.BanListView.as_view(), name="community-bans"),
    path(
        "communities/<str:community_id>/bans/<str:user_id>",
        views.BanDetailView.as_view(),
        name="community-ban",
    ),
    path("communities/<str:community_id>/audit", views.AuditView.as_view(), name="community-audit"),
    path("users/<str:user_id>/usage", views.UsageView.as_view(), name="user-usage"),
]
