from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from backends import views as backend_views
from ops import views as ops_views

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
    path("", include("loras_app.urls")),
    path("", include("sessions_app.urls")),
    path("", include("presets_app.urls")),
    path("", include("generation_app.urls")),
]

if settings.DEBUG:  # pragma: no cover - production serves images through the API
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
