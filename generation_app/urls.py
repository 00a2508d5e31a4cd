from django.urls import path

from generation_app import extension_views as ext
from generation_app import extras_views, sweep_views, views
from generation_app.preview_views import JobPreviewView
from generation_app.user_events_views import UserEventsView

urlpatterns = [
    path("generate/txt2img", views.Txt2ImgView.as_view(), name="generate-txt2img"),
    path("generate/img2img", views.Img2ImgView.as_view(), name="generate-img2img"),
    path("generate/outpaint", views.OutpaintView.as_view(), name="generate-outpaint"),
    path("generate/controlnet", ext.ControlNetGenerateView.as_view(), name="generate-controlnet"),
    path("generate/regional", ext.RegionalGenerateView.as_view(), name="generate-regional"),
    path("generate/sweep", sweep_views.SweepCreateView.as_view(), name="generate-sweep"),
    path("sweeps/<uuid:sweep_id>", sweep_views.SweepDetailView.as_view(), name="sweep-detail"),
    path(
        "sweeps/<uuid:sweep_id>/cancel", sweep_views.SweepCancelView.as_view(), name="sweep-cancel"
    ),
    path("sweeps/<uuid:sweep_id>/sheet", sweep_views.SweepSheetView.as_view(), name="sweep-sheet"),
    path("jobs", views.JobListView.as_view(), name="job-list"),
    path("queue", views.QueueView.as_view(), name="queue"),
    # The job's links are these suffixes of job-detail (serializers.JobLinksMixin).
    path("jobs/<uuid:job_id>", views.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<uuid:job_id>/result", views.JobResultView.as_view(), name="job-result"),
    path("jobs/<uuid:job_id>/cancel", views.JobCancelView.as_view(), name="job-cancel"),
    path("jobs/<uuid:job_id>/events", views.JobEventsView.as_view(), name="job-events"),
    path("jobs/<uuid:job_id>/preview", JobPreviewView.as_view(), name="job-preview"),
    path("users/<str:user_id>/events", UserEventsView.as_view(), name="user-events"),
    path("images/<path:path>", views.JobImageView.as_view(), name="job-image"),
    path("controlnet/models", ext.ControlNetModelsView.as_view(), name="controlnet-models"),
    path("controlnet/modules", ext.ControlNetModulesView.as_view(), name="controlnet-modules"),
    path(
        "controlnet/preprocess",
        ext.ControlNetPreprocessView.as_view(),
        name="controlnet-preprocess",
    ),
    path("png-info", extras_views.PngInfoView.as_view(), name="png-info"),
    path("upscale", extras_views.UpscaleView.as_view(), name="upscale"),
    path("interrogate", extras_views.InterrogateView.as_view(), name="interrogate"),
    path("regional/layouts", ext.RegionalLayoutsView.as_view(), name="regional-layouts"),
]
