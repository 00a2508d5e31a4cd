from django.urls import path

from generation_app import views

urlpatterns = [
    path("generate/txt2img", views.Txt2ImgView.as_view(), name="generate-txt2img"),
    path("generate/img2img", views.Img2ImgView.as_view(), name="generate-img2img"),
    path("generate/outpaint", views.OutpaintView.as_view(), name="generate-outpaint"),
    path("jobs", views.JobListView.as_view(), name="job-list"),
    path("jobs/<uuid:job_id>", views.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<uuid:job_id>/result", views.JobResultView.as_view(), name="job-result"),
    path("jobs/<uuid:job_id>/cancel", views.JobCancelView.as_view(), name="job-cancel"),
    path("jobs/<uuid:job_id>/events", views.JobEventsView.as_view(), name="job-events"),
    path("images/<path:path>", views.JobImageView.as_view(), name="job-image"),
]

from generation_app import extension_views  # noqa: E402

urlpatterns += [
    path(
        "generate/controlnet",
        extension_views.ControlNetGenerateView.as_view(),
        name="generate-controlnet",
    ),
    path(
        "generate/regional",
        extension_views.RegionalGenerateView.as_view(),
        name="generate-regional",
    ),
    path(
        "controlnet/models",
        extension_views.ControlNetModelsView.as_view(),
        name="controlnet-models",
    ),
    path(
        "controlnet/modules",
        extension_views.ControlNetModulesView.as_view(),
        name="controlnet-modules",
    ),
    path(
        "controlnet/preprocess",
        extension_views.ControlNetPreprocessView.as_view(),
        name="controlnet-preprocess",
    ),
    path(
        "regional/layouts", extension_views.RegionalLayoutsView.as_view(), name="regional-layouts"
    ),
]
