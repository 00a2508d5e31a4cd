from django.urls import path

from loras_app import views

urlpatterns = [
    path("loras", views.LoraListView.as_view(), name="lora-list"),
    path("loras/autocomplete", views.LoraAutocompleteView.as_view(), name="lora-autocomplete"),
    path("loras/scan", views.ScanView.as_view(), name="lora-scan"),
    path("loras/scans/<int:scan_id>", views.ScanDetailView.as_view(), name="lora-scan-detail"),
    path("loras/<path:filename>/preview", views.LoraPreviewView.as_view(), name="lora-preview"),
    path(
        "loras/<path:filename>/civitai-thumbnail",
        views.LoraCivitaiThumbnailView.as_view(),
        name="lora-civitai-thumbnail",
    ),
    path("loras/<path:filename>", views.LoraDetailView.as_view(), name="lora-detail"),
]
