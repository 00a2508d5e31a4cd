from django.urls import path

from generation_app.api import events as event_views
from generation_app.api import files as file_views
from generation_app.api import generate as generate_views
from generation_app.api import jobs as job_views
from generation_app.api import queue as queue_views
from generation_app.api.events import UserEventsView
from generation_app.api.files import JobPreviewView
from generation_app.controlnet import views as controlnet_views
from generation_app.extras import views as extras_views
from generation_app.gallery import views as gallery_views
from generation_app.regional import views as regional_views
from generation_app.sweeps import views as sweep_views

urlpatterns = [
    path("generate/txt2img", generate_views.Txt2ImgView.as_view(), name="generate-txt2img"),
    path("generate/img2img", generate_views.Img2ImgView.as_view(), name="generate-img2img"),
    path("generate/outpaint", generate_views.OutpaintView.as_view(), name="generate-outpaint"),
    path(
        "generate/controlnet",
        controlnet_views.ControlNetGenerateView.as_view(),
        name="generate-controlnet",
    ),
    path(
        "generate/regional", regional_views.RegionalGenerateView.as_view(), name="generate-regional"
    ),
    path("generate/sweep", sweep_views.SweepCreateView.as_view(), name="generate-sweep"),
    path("sweeps/<uuid:sweep_id>", sweep_views.SweepDetailView.as_view(), name="sweep-detail"),
    path(
        "sweeps/<uuid:sweep_id>/cancel", sweep_views.SweepCancelView.as_view(), name="sweep-cancel"
    ),
    path("sweeps/<uuid:sweep_id>/sheet", sweep_views.SweepSheetView.as_view(), name="sweep-sheet"),
    path("jobs", job_views.JobListView.as_view(), name="job-list"),
    path("queue", job_views.QueueView.as_view(), name="queue"),
    # The job's links are these suffixes of job-detail (serializers.JobLinksMixin).
    path("jobs/<uuid:job_id>", job_views.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<uuid:job_id>/result", job_views.JobResultView.as_view(), name="job-result"),
    path("jobs/<uuid:job_id>/cancel", job_views.JobCancelView.as_view(), name="job-cancel"),
    path("jobs/<uuid:job_id>/move", queue_views.MoveView.as_view(), name="job-move"),
    path("jobs/<uuid:job_id>/priority", queue_views.BoostView.as_view(), name="job-priority"),
    path("users/<str:user_id>/queue", queue_views.MyQueueView.as_view(), name="user-queue"),
    path(
        "users/<str:user_id>/queue/pause", queue_views.PauseView.as_view(), name="user-queue-pause"
    ),
    path(
        "users/<str:user_id>/queue/resume",
        queue_views.ResumeView.as_view(),
        name="user-queue-resume",
    ),
    path(
        "users/<str:user_id>/queue/cancel",
        queue_views.CancelAllView.as_view(),
        name="user-queue-cancel",
    ),
    path("jobs/<uuid:job_id>/events", event_views.JobEventsView.as_view(), name="job-events"),
    path("jobs/<uuid:job_id>/preview", JobPreviewView.as_view(), name="job-preview"),
    path(
        "jobs/<uuid:job_id>/images/<int:index>/original",
        file_views.JobImageOriginalView.as_view(),
        name="job-image-original",
    ),
    path("users/<str:user_id>/events", UserEventsView.as_view(), name="user-events"),
    # The gallery: /images/<image id>...; a stored file is /images/<job id>/<name>.
    path("users/<str:user_id>/images", gallery_views.GalleryView.as_view(), name="gallery"),
    path("images/<int:image_id>", gallery_views.ImageDetailView.as_view(), name="image"),
    path(
        "images/<int:image_id>/favorite",
        gallery_views.FavoriteView.as_view(),
        name="image-favorite",
    ),
    path("images/<int:image_id>/tags", gallery_views.TagsView.as_view(), name="image-tags"),
    path("images/<int:image_id>/rerun", gallery_views.RerunView.as_view(), name="image-rerun"),
    path(
        "images/<int:image_id>/variations",
        gallery_views.VariationsView.as_view(),
        name="image-variations",
    ),
    path(
        "images/<int:image_id>/upscale",
        gallery_views.UpscaleImageView.as_view(),
        name="image-upscale",
    ),
    path("images/<int:image_id>/remix", gallery_views.RemixView.as_view(), name="image-remix"),
    path(
        "images/<int:image_id>/preset", gallery_views.ImagePresetView.as_view(), name="image-preset"
    ),
    path("images/<uuid:job_id>/<str:name>", file_views.JobImageView.as_view(), name="job-image"),
    path(
        "controlnet/models",
        controlnet_views.ControlNetModelsView.as_view(),
        name="controlnet-models",
    ),
    path(
        "controlnet/modules",
        controlnet_views.ControlNetModulesView.as_view(),
        name="controlnet-modules",
    ),
    path(
        "controlnet/preprocess",
        controlnet_views.ControlNetPreprocessView.as_view(),
        name="controlnet-preprocess",
    ),
    path("png-info", extras_views.PngInfoView.as_view(), name="png-info"),
    path("upscale", extras_views.UpscaleView.as_view(), name="upscale"),
    path("interrogate", extras_views.InterrogateView.as_view(), name="interrogate"),
    path("regional/layouts", regional_views.RegionalLayoutsView.as_view(), name="regional-layouts"),
]
