from django.urls import path

from sessions_app import views

urlpatterns = [
    path("sessions/<str:user_id>", views.SessionView.as_view(), name="session"),
    path("sessions/<str:user_id>/loras", views.SessionLorasView.as_view(), name="session-loras"),
    path(
        "sessions/<str:user_id>/loras/<path:filename>",
        views.SessionLoraView.as_view(),
        name="session-lora",
    ),
    path(
        "sessions/<str:user_id>/controlnet",
        views.SessionControlNetView.as_view(),
        name="session-controlnet",
    ),
    path(
        "sessions/<str:user_id>/settings",
        views.SessionSettingsView.as_view(),
        name="session-settings",
    ),
]
