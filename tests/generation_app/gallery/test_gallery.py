"""The gallery over HTTP: every image of a user, filters and search, favourites, tags,
deletion, and new jobs made from an image with their lineage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from generation_app.models import Job, JobImage

ROOT = Path(__file__).resolve().parents[3]
PROMPTS = ["a red lighthouse at dusk", "a blue fox in snow", "an old harbour at night"]


@pytest.fixture
def made(api, backend, cluster):
    """user alice: 3 jobs x 4 images."""
    for prompt in PROMPTS:
        body = {"user_id": "alice", "prompt": prompt, "width": 64, "height": 64, "steps": 2,
                "batch_size": 4}  # fmt: skip
        assert api.post("/generate/txt2img", body, format="json").status_code == 202
        cluster.drain()
    return JobImage.objects.filter(role="image").order_by("-id")


def page(api, query: str = "", user: str = "alice") -> dict:
    response = api.get(f"/users/{user}/images{query}")
    assert response.status_code == 200, response.json()
    return response.json()


def test_three_jobs_of_four_images_list_as_twelve_images_newest_first(api, made):
    body = page(api)
    assert len(body["results"]) == 12 and body["next"] is None
    ids = [image["id"] for image in body["results"]]
    assert ids == sorted(ids, reverse=True)
    first = body["results"][0]
    assert first["prompt"] == PROMPTS[-1] and first["thumbnail_url"] and first["url"]
    assert api.get(first["thumbnail_url"]).status_code == 200
    two = page(api, "?page_size=5")
    assert len(two["results"]) == 5 and two["next"]
    rest = api.get(two["next"]).json()
    assert [i["id"] for i in rest["results"]] == ids[5:10]


def test_favourite_tag_search_and_delete(api, made):
    image = made[0]
    assert api.post(f"/images/{image.pk}/favorite").json()["favorite"] is True
    assert [i["id"] for i in page(api, "?favorite=true")["results"]] == [image.pk]
    tagged = api.put(f"/images/{image.pk}/tags", {"tags": ["Keeper", "night"]}, format="json")
    assert tagged.json()["tags"] == ["keeper", "night"]
    assert [i["id"] for i in page(api, "?tag=keeper")["results"]] == [image.pk]
    assert len(page(api, "?q=fox")["results"]) == 4
    assert len(page(api, "?q=fox%20snow")["results"]) == 4
    assert page(api, "?q=fox%20harbour")["results"] == []
    assert api.delete(f"/images/{image.pk}/favorite").json()["favorite"] is False

    files = [image.file, image.thumbnail, image.compressed]
    assert api.delete(f"/images/{image.pk}").status_code == 204
    assert not any(default_storage.exists(name) for name in files)
    assert len(page(api)["results"]) == 11
    assert api.get(f"/images/{image.pk}").status_code == 404


def test_deleting_a_picture_takes_its_batch_grid_too(api, made):
    image = made[0]
    grid = image.job.images.get(role="grid")
    assert api.delete(f"/images/{image.pk}").status_code == 204
    assert not image.job.images.filter(role="grid").exists()
    assert not default_storage.exists(grid.file)


def test_a_job_whose_images_are_all_deleted_says_so(api, made):
    job = made[0].job
    for image in job.images.filter(role="image"):
        assert api.delete(f"/images/{image.pk}").status_code == 204
    assert "deleted by their user" in api.get(f"/jobs/{job.pk}").json()["message"]


def test_another_users_key_cannot_see_or_touch_the_images(made, user_api):
    bob, image = user_api("bob"), made[0]
    assert bob.get("/users/alice/images").status_code == 403
    assert bob.get(f"/images/{image.pk}").status_code == 404
    assert bob.post(f"/images/{image.pk}/favorite").status_code == 404
    assert bob.put(f"/images/{image.pk}/tags", {"tags": ["x"]}, format="json").status_code == 404
    assert bob.delete(f"/images/{image.pk}").status_code == 404
    assert bob.post(f"/images/{image.pk}/rerun", {}, format="json").status_code == 404
    assert JobImage.objects.filter(pk=image.pk, favorite=False).exists()


@pytest.mark.parametrize("query", ["?favorite=maybe", "?kind=painting", "?since=yesterday",
                                   "?page_size=0", "?q=" + "x" * 201, "?cursor=0",
                                   "?until=", "?favorite=null", "?tag="])  # fmt: skip
def test_bad_filters_are_a_400_naming_the_parameter(api, made, query):
    response = api.get(f"/users/alice/images{query}")
    assert response.status_code == 400
    assert query[1:].split("=")[0] in response.json()["fields"]


def test_each_action_makes_a_job_linked_to_its_picture(api, made, cluster):
    image = made[0]
    bodies = {
        "rerun": {"seed": 7},
        "variations": {"count": 3, "subseed_strength": 0.25},
        "upscale": {"scale": 2},
        "remix": {"prompt": "a green fox", "denoising_strength": 0.5},
    }
    for action, body in bodies.items():
        response = api.post(f"/images/{image.pk}/{action}", body, format="json")
        assert response.status_code == 202, (action, response.json())
        job = Job.objects.get(pk=response.json()["job_id"])
        assert (job.parent_job_id, job.parent_image_index) == (image.job_id, image.index)
    cluster.drain()
    children = Job.objects.filter(parent_job_id=image.job_id)
    assert sorted(children.values_list("status", flat=True)) == ["completed"] * 4
    variations = children.get(payload__subseed_strength=0.25)
    assert variations.payload["seed"] == image.seed and variations.payload["batch_size"] == 3
    assert variations.payload["subseed"] == -1
    remix = children.get(kind="img2img")
    assert remix.payload["init_images"] and remix.payload["prompt"].startswith("a green fox")
    child_image = JobImage.objects.filter(job__parent_job_id=image.job_id, role="image").first()
    shown = api.get(f"/images/{child_image.pk}").json()
    assert shown["parent_job_id"] == str(image.job_id)
    preset = api.post(f"/images/{image.pk}/preset", {"name": "that fox"}, format="json")
    assert preset.status_code == 201
    assert api.get("/presets/alice").json()["presets"][0]["params"]["seed"] == image.seed


def test_a_variations_payload_is_valid_against_a1111s_schema(api, made):
    """The request body A1111 gets, checked against the OpenAPI document captured from a
    real A1111 (its StableDiffusionProcessingTxt2Img model)."""
    from jsonschema import Draft202012Validator

    document = json.loads((ROOT / "tests" / "data" / "a1111-openapi.json").read_text())
    schema = {**document["components"]["schemas"]["StableDiffusionProcessingTxt2Img"],
              "components": document["components"]}  # fmt: skip
    image = made[0]
    response = api.post(f"/images/{image.pk}/variations", {"count": 2}, format="json")
    payload = Job.objects.get(pk=response.json()["job_id"]).payload
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(payload)]
    assert errors == []
    assert payload["subseed_strength"] == 0.3 and payload["seed"] == image.seed
