"""The admin as an operator's tool: its name, the fuzzy LoRA search, lists edited as lists,
read-only jobs, and the dashboard (rendered by Django here; in a browser in
test_admin_browser.py)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from generation_app.models import Job, JobImage
from loras_app.models import Lora

pytestmark = pytest.mark.django_db


def test_the_admin_carries_the_hubs_name(admin_client):
    html = admin_client.get("/admin/").content.decode()
    assert "<title>A1111 Hub" in html and "Django administration" not in html
    assert 'href="/admin/dashboard/"' in html


def test_the_lora_search_forgives_a_typo_as_the_api_does(admin_client, catalog):
    html = admin_client.get("/admin/loras_app/lora/?q=watercolr").content.decode()
    assert "Watercolor Style" in html and "Watercolor Flowers" in html
    assert "Cyberpunk City" not in html
    assert "2 results" in html


def test_the_best_match_comes_first(admin_client, catalog):
    html = admin_client.get("/admin/loras_app/lora/?q=watercolor+flowrs").content.decode()
    assert html.index("Watercolor Flowers") < html.index("Watercolor Style") or (
        "Watercolor Style" not in html
    )


def test_the_search_still_finds_disabled_and_missing_loras(admin_client, catalog):
    Lora.objects.filter(filename="style_lora.safetensors").update(enabled=False, missing=True)
    html = admin_client.get("/admin/loras_app/lora/?q=watercolr").content.decode()
    assert "Watercolor Style" in html


def test_the_prompt_name_help_text_shows_the_tag_syntax(admin_client, catalog):
    lora = catalog["style_lora.safetensors"]
    html = admin_client.get(f"/admin/loras_app/lora/{lora.pk}/change/").content.decode()
    assert "resolves in &lt;lora:NAME:w&gt;." in html


def test_trigger_words_and_tags_are_edited_one_per_line(admin_client, catalog):
    lora = catalog["style_lora.safetensors"]
    url = f"/admin/loras_app/lora/{lora.pk}/change/"
    html = admin_client.get(url).content.decode()
    assert "watercolor\nwet paint</textarea>" in html  # not '["watercolor", "wet paint"]'
    assert "\npainting</textarea>" in html
    response = admin_client.post(
        url,
        {
            "name": lora.name,
            "trigger_words": "soft light, pastel\n",
            "tag_names": "Painting\nPastel\n\npastel",
            "description": "",
            "preferred_weight": "1",
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    lora.refresh_from_db()
    assert lora.trigger_words == ["soft light", "pastel"]
    tags = {link.tag.name: link.frequency for link in lora.lora_tags.select_related("tag")}
    assert tags == {"painting": 5, "pastel": 0}  # the kept tag keeps its frequency
    assert {"trigger_words", "tags"} <= set(lora.edited_fields)
    assert "pastel" in lora.search_text


def test_a_trigger_phrase_with_commas_survives_on_its_own_line(admin_client, catalog):
    lora = catalog["add_detail.safetensors"]
    admin_client.post(
        f"/admin/loras_app/lora/{lora.pk}/change/",
        {
            "name": lora.name,
            "trigger_words": "1girl, red hair\nsmile",
            "tag_names": "detail",
            "preferred_weight": "1",
            "enabled": "on",
        },
    )
    lora.refresh_from_db()
    assert lora.trigger_words == ["1girl, red hair", "smile"]


@pytest.fixture
def finished_job(backend) -> Job:
    now = timezone.now()
    job = Job.objects.create(
        user_id="alice",
        kind="txt2img",
        status=Job.Status.COMPLETED,
        backend=backend,
        started_at=now,
        finished_at=now,
        total_steps=20,
        request={"prompt": "a cat"},
    )
    JobImage.objects.create(job=job, index=0, file="x.png", width=8, height=8)
    return job


def test_a_job_is_read_only_but_may_be_deleted(admin_client, finished_job):
    url = f"/admin/generation_app/job/{finished_job.pk}/change/"
    html = admin_client.get(url).content.decode()
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert 'name="images-MAX_NUM_FORMS" value="0"' in html  # no "Add another Job image"
    assert f"/admin/generation_app/job/{finished_job.pk}/delete/" in html
    assert admin_client.post(url, {"user_id": "mallory"}).status_code == 403
    finished_job.refresh_from_db()
    assert finished_job.user_id == "alice"
    response = admin_client.post(
        f"/admin/generation_app/job/{finished_job.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302 and not Job.objects.exists()


def test_the_job_list_shows_short_columns(admin_client, finished_job):
    html = admin_client.get("/admin/generation_app/job/").content.decode()
    assert str(finished_job.pk)[:8] in html and "0.0 s" in html


def test_the_dashboard_shows_queue_backends_failures_scans_and_disk(
    admin_client, backend, settings
):
    (settings.MEDIA_ROOT / "images").mkdir(parents=True)
    (settings.MEDIA_ROOT / "images" / "a.png").write_bytes(b"x" * 2048)
    Job.objects.create(user_id="bob", kind="txt2img", checkpoint="sdxl.safetensors")
    Job.objects.create(
        user_id="carol",
        kind="txt2img",
        status=Job.Status.FAILED,
        finished_at=timezone.now(),
        message="A1111 failed (HTTP 500): boom.",
    )
    html = admin_client.get("/admin/dashboard/").content.decode()
    assert "Hub dashboard" in html
    assert ">bob</a>" in html and "sdxl.safetensors" in html
    assert backend.name in html and "healthy" in html
    assert "a1111_error" in html and "boom" in html
    assert "2.0\xa0KB" in html


def test_the_dashboard_is_for_staff_only(client, db):
    response = client.get("/admin/dashboard/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
