from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from a1111hub import views

handler404 = "a1111hub.errors.json_404"
handler500 = "a1111hub.errors.json_500"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health", views.HealthView.as_view(), name="health"),
    path("models", views.ModelsView.as_view(), name="models"),
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
