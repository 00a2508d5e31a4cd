from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from backends import views as backend_views
from ops import views as ops_views

handler400 = "core.errors.json_400"
handler403 = "core.errors.json_403"
handler404 = "core.errors.json_404"
handler500 = "core.errors.json_500"

urlpatterns = [
    path(
        "admin/dashboard/",
        admin.site.admin_view(ops_views.dashboard_view),
        name="hub-dashboard",
    ),
    path("admin/", admin.site.urls),
    path("metrics", ops_views.MetricsView.as_view(), name="metrics"),
    path("health", backend_views.HealthView.as_view(), name="health"),
    path("models", backend_views.ModelsView.as_view(), name="models"),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi"), name="docs"),
    path("", include("webui.urls")),
    path("", include("loras_app.urls")),
    path("", include("sessions_app.urls")),
    path("", include("presets_app.urls")),
    path("", include("communities.urls")),
    path("", include("discord_app.urls")),
    path("", include("generation_app.urls")),
]

# Images are served only through the API (GET /images/..., signed links or a key), never
# as /media/ files: the storage may not be a folder, and a media route would skip both.
