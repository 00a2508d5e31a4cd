"""The hub's URLs plus the baseline view `python -m bench.scheduler` compares GET /jobs/{id}
with. Served only by a hub started with DJANGO_SETTINGS_MODULE=bench.settings."""

from django.http import JsonResponse
from django.urls import include, path
from rest_framework.views import APIView

from generation_app.models import Job


class MinimalJobView(APIView):
    """The least a status endpoint can do: the same API-key check (DRF's default
    authentication and permission classes, as every hub view) and one row by primary key."""

    def get(self, request, job_id):
        row = (
            Job.objects.filter(pk=job_id)
            .values("id", "user_id", "status", "progress", "step", "total_steps", "message")
            .first()
        )
        if row is None:
            return JsonResponse({"detail": "not found"}, status=404)
        row["id"] = str(row["id"])
        return JsonResponse(row)


urlpatterns = [
    path("bench/minimal/<uuid:job_id>", MinimalJobView.as_view(), name="bench-minimal"),
    path("", include("a1111hub.urls")),
]

handler404 = "core.errors.json_404"
handler500 = "core.errors.json_500"
