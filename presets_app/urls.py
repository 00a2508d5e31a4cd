from django.urls import path

from presets_app import views

urlpatterns = [
    path("presets", views.PresetBrowseView.as_view(), name="presets-browse"),
    path("presets/<str:user_id>", views.PresetListView.as_view(), name="presets"),
    path("presets/<str:user_id>/copy", views.PresetCopyView.as_view(), name="preset-copy"),
    path(
        "presets/<str:user_id>/<int:preset_id>",
        views.PresetDetailView.as_view(),
        name="preset",
    ),
    path(
        "presets/<str:user_id>/<int:preset_id>/apply",
        views.PresetApplyView.as_view(),
        name="preset-apply",
    ),
]
