"""ControlNet: unit building without a server, then the endpoints end to end on a1111sim."""

from __future__ import annotations

import base64
import io

import pytest
import requests
from PIL import Image, ImageDraw
from rest_framework import serializers

from backends.models import Backend
from core.errors import Conflict
from generation_app.controlnet import units as cn
from generation_app.models import Job, JobImage
from genparams.controlnet import check_unit_count

EXTENSION = {
    "models": ["control_openpose-fp16 [9ca67cc5]", "control_v11p_sd15_canny [d14c016b]"],
    "modules": ["none", "canny", "openpose_full", "reference_only"],
    "module_detail": {"reference_only": {"model_free": True, "sliders": []}},
    "unit_count": 3,
    "version": 3,
}
BRIEF_DATA = {
    "user_id": "user123",
    "prompt": "detailed portrait, studio lighting",
    "controlnet_units": [
        {
            "enabled": True,
            "model": "control_openpose-fp16",
            "weight": 1.0,
            "preprocessor": "openpose_full",
        }
    ],
}


def picture(size=(64, 64), fmt="PNG") -> bytes:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).ellipse((8, 8, size[0] - 8, size[1] - 8), outline="black", width=3)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sim_history(sim) -> list[dict]:
    return requests.get(f"{sim.url}/sim/state", timeout=5).json()["history"]


def sent_payload(sim, route="/sdapi/v1/txt2img") -> dict:
    (entry,) = [h for h in sim_history(sim) if h["route"] == route]
    return entry["payload"]


# --- building units, no server ------------------------------------------------------------
def test_request_units_override_saved_configs_position_by_position():
    saved = [
        {"model": "a", "module": "canny", "preprocessor": "canny", "weight": 0.5},
        {"model": "b"},
    ]
    merged = cn.merge_defaults([{"preprocessor": "openpose_full"}], saved)
    assert merged == [{"model": "a", "weight": 0.5, "preprocessor": "openpose_full"}]


def test_without_request_units_the_saved_configs_are_the_units():
    assert cn.merge_defaults([], [{"model": "a"}, {"model": "b"}]) == [
        {"model": "a"},
        {"model": "b"},
    ]


def test_each_unit_gets_its_own_image_then_a_numbered_one_then_the_shared_one():
    own, numbered, shared = b64(picture((64, 64))), b64(picture((72, 64))), b64(picture((80, 64)))
    units, images = cn.attach_images(
        [{"image": own}, {}, {}], shared, {"image": {1: numbered}, "mask": {}}, False
    )
    assert [u["image"] for u in units] == [own, numbered, shared]
    assert [images[f"unit{i}.image"].width for i in range(3)] == [64, 72, 80]


def test_several_shared_files_go_one_per_unit():
    first, second = b64(picture((64, 64))), b64(picture((72, 64)))
    units, _ = cn.attach_images([{}, {}], [first, second], {"image": {}, "mask": {}}, False)
    assert [u["image"] for u in units] == [first, second]


def test_an_enabled_unit_without_an_image_is_refused_unless_img2img_has_an_init_image():
    with pytest.raises(serializers.ValidationError):
        cn.attach_images([{"model": "a"}], None, {"image": {}, "mask": {}}, False)
    units, _ = cn.attach_images([{"model": "a"}], None, {"image": {}, "mask": {}}, True)
    assert "image" not in units[0]
    units, _ = cn.attach_images([{"enabled": False}], None, {"image": {}, "mask": {}}, False)
    assert units == [{"enabled": False}]


def test_a_complete_unit_has_every_field_string_enums_and_the_listed_model_name():
    unit = cn.complete_unit(
        {
            "module": "openpose_full",
            "preprocessor": "openpose_full",
            "model": "control_openpose-fp16",
        },
        0,
        EXTENSION,
    )
    assert unit == {
        "enabled": True,
        "module": "openpose_full",
        "model": "control_openpose-fp16 [9ca67cc5]",
        "weight": 1.0,
        "resize_mode": "Crop and Resize",
        "processor_res": -1,
        "threshold_a": -1,
        "threshold_b": -1,
        "guidance_start": 0.0,
        "guidance_end": 1.0,
        "pixel_perfect": False,
        "low_vram": False,
        "control_mode": "Balanced",
    }


def test_a_unit_needs_a_model_unless_its_preprocessor_is_model_free():
    with pytest.raises(serializers.ValidationError) as error:
        cn.complete_unit({"module": "canny"}, 1, EXTENSION)
    assert "Unit 1 (canny) needs a `model`" in str(error.value.detail)
    assert cn.complete_unit({"module": "reference_only"}, 0, EXTENSION)["model"] == "None"


def test_more_units_than_the_backend_runs_are_refused():
    check_unit_count(3, EXTENSION)
    with pytest.raises(serializers.ValidationError, match="at most 3"):
        check_unit_count(4, EXTENSION)


def test_no_extension_in_the_catalog_is_a_conflict():
    with pytest.raises(Conflict):
        cn.require_controlnet({"controlnet": None})


def test_the_detect_body_uses_the_extensions_field_names():
    image = cn.check_image(b64(picture()), "image")
    body = cn.detect_body({"module": "canny", "threshold_a": 50}, [image], [])
    assert body == {
        "controlnet_module": "canny",
        "controlnet_input_images": [image.b64],
        "controlnet_processor_res": -1,
        "controlnet_threshold_a": 50,
        "controlnet_threshold_b": -1,
        "low_vram": False,
    }


# --- what Python requests puts on the wire ------------------------------------------------
def test_the_exact_bytes_requests_sends_for_the_briefs_example_are_accepted(api, backend, sim):
    prepared = requests.Request(
        "POST", "http://testserver/generate/controlnet",
        files={"image": ("pose_reference.jpg", picture(fmt="JPEG"))}, data=BRIEF_DATA,
    ).prepare()  # fmt: skip
    # each unit dict becomes its own form field holding str(dict): a Python literal
    assert b"{'enabled': True, 'model': 'control_openpose-fp16'" in prepared.body
    response = api.generic(
        "POST", "/generate/controlnet", prepared.body, content_type=prepared.headers["Content-Type"]
    )
    assert response.status_code == 202, response.json()
    (unit,) = Job.objects.get().payload["alwayson_scripts"]["controlnet"]["args"]
    assert unit["module"] == "openpose_full" and unit["model"] == "control_openpose-fp16 [9ca67cc5]"
    assert base64.b64decode(unit["image"]) == base64.b64decode(b64(picture(fmt="JPEG")))


def test_a_form_without_files_which_flattens_units_to_key_names_is_refused_with_a_hint(
    api, backend
):
    prepared = requests.Request("POST", "http://testserver/x", data=BRIEF_DATA).prepare()
    assert b"controlnet_units=enabled&controlnet_units=model" in prepared.body.encode()
    response = api.generic(
        "POST", "/generate/controlnet", prepared.body, content_type=prepared.headers["Content-Type"]
    )
    assert response.status_code == 415 and "files=" in response.json()["detail"]


def test_code_in_a_form_field_is_never_run(api, backend):
    response = api.post(
        "/generate/controlnet",
        {
            "user_id": "u",
            "controlnet_units": "[__import__('os').getcwd()]",
            "image": io.BytesIO(picture()),
        },
        format="multipart",
    )
    assert response.status_code == 400


def test_the_briefs_example_verbatim_against_a_live_server(
    live_server, service_key, backend, cluster, sim
):
    with io.BytesIO(picture(fmt="JPEG")) as f:
        files = {"image": f}
        data = {
            "user_id": "user123",
            "prompt": "detailed portrait, studio lighting",
            "controlnet_units": [{
                "enabled": True,
                "model": "control_openpose-fp16",
                "weight": 1.0,
                "preprocessor": "openpose_full"
            }]
        }  # fmt: skip

        response = requests.post(
            f"{live_server.url}/generate/controlnet",
            files=files,
            data=data,
            headers={"X-API-Key": service_key},
            timeout=10,
        )
    assert response.status_code == 202, response.text
    assert cluster.drain() == 1
    job = Job.objects.get(pk=response.json()["job_id"])
    assert job.status == "completed", job.message
    assert job.kind == "controlnet"
    (unit,) = sent_payload(sim)["alwayson_scripts"]["controlnet"]["args"]
    assert unit["enabled"] is True and unit["module"] == "openpose_full"
    assert unit["image"].startswith("<b64 ")
    result = requests.get(
        f"{live_server.url}/jobs/{job.pk}/result", headers={"X-API-Key": service_key}, timeout=10
    ).json()
    assert len(result["images"]) == 1
    (extra,) = result["extras"]
    assert extra["role"] == JobImage.Role.CONTROL_MAP
    assert "ControlNet 0" in job.info["extra_generation_params"]


# --- end to end through the queue ---------------------------------------------------------
def test_two_units_with_two_images_and_integer_modes_reach_a1111_as_names(
    api, backend, cluster, sim
):
    body = {
        "user_id": "u1",
        "prompt": "a dancer",
        "width": 128,
        "height": 128,
        "controlnet_units": [
            {"module": "openpose_full", "model": "control_v11p_sd15_openpose"},
            {"module": "canny", "model": "control_v11p_sd15_canny", "weight": 0.6,
             "resize_mode": 0, "control_mode": 2},
        ],
        "image_0": io.BytesIO(picture((64, 64))),
        "image_1": io.BytesIO(picture((96, 64))),
    }  # fmt: skip
    response = api.post("/generate/controlnet", body, format="multipart")
    assert response.status_code == 202, response.json()
    cluster.drain()
    job = Job.objects.get()
    assert job.status == "completed", job.message
    first, second = sent_payload(sim)["alwayson_scripts"]["controlnet"]["args"]
    assert first["model"] == "control_v11p_sd15_openpose [cab727d4]"
    assert (second["resize_mode"], second["control_mode"]) == (
        "Just Resize",
        "ControlNet is more important",
    )
    assert first["image"] != second["image"]
    assert job.images.filter(role=JobImage.Role.CONTROL_MAP).count() == 2
    assert job.request["controlnet_units"][1]["weight"] == 0.6
    assert job.request["unit1.image"].startswith("<image 96x64")


def test_units_as_a_json_string_with_base64_images_in_a_json_body(api, backend, cluster, sim):
    units = (
        f'[{{"module": "canny", "model": "control_v11p_sd15_canny", "image": "{b64(picture())}"}}]'
    )
    body = {"user_id": "u1", "prompt": "x", "width": 64, "height": 64, "controlnet_units": units}
    assert api.post("/generate/controlnet", body, format="json").status_code == 202
    cluster.drain()
    assert Job.objects.get().status == "completed"


def test_an_init_image_makes_it_img2img_and_the_unit_falls_back_to_it(api, backend, cluster, sim):
    body = {
        "user_id": "u1",
        "prompt": "x",
        "init_image": b64(picture((64, 64))),
        "controlnet_units": [{"module": "canny", "model": "control_v11p_sd15_canny"}],
    }
    assert api.post("/generate/controlnet", body, format="json").status_code == 202
    cluster.drain()
    assert Job.objects.get().status == "completed", Job.objects.get().message
    payload = sent_payload(sim, "/sdapi/v1/img2img")
    assert "image" not in payload["alwayson_scripts"]["controlnet"]["args"][0]
    assert (payload["width"], payload["height"]) == (64, 64)


def test_the_sessions_controlnet_configs_are_the_defaults(api, backend, cluster, sim):
    configs = {
        "controlnet_configs": [
            {"model": "control_openpose-fp16", "weight": 1.5, "preprocessor": "openpose_full"}
        ]
    }
    assert api.put("/sessions/user123/controlnet", configs, format="json").status_code in (200, 201)
    body = {"user_id": "user123", "prompt": "x", "width": 64, "height": 64, "image": b64(picture())}
    assert api.post("/generate/controlnet", body, format="json").status_code == 202
    body["controlnet_units"] = [{"weight": 0.4}]
    assert api.post("/generate/controlnet", body, format="json").status_code == 202
    cluster.drain()
    first, second = [h["payload"]["alwayson_scripts"]["controlnet"]["args"][0] for h in sim_history(sim)
                     if h["route"] == "/sdapi/v1/txt2img"]  # fmt: skip
    assert (first["weight"], first["module"]) == (1.5, "openpose_full")
    assert (second["weight"], second["module"]) == (0.4, "openpose_full")


@pytest.mark.parametrize(
    "unit, words",
    [
        (
            {"model": "control_nope", "module": "canny"},
            "Unknown ControlNet model 'control_nope'. Valid: None, control_openpose-fp16",
        ),
        (
            {"model": "control_v11p_sd15_canny", "preprocessor": "cany"},
            "Unknown ControlNet module 'cany'",
        ),
        ({"model": "control_v11p_sd15_canny", "weight": 2.5}, "less than or equal to 2"),
        ({"model": "control_v11p_sd15_canny", "resize_mode": 7}, "0 or 'Just Resize'"),
        ({"module": "canny"}, "needs a `model`"),
    ],
)
def test_a_bad_unit_is_a_400_before_queueing(api, backend, sim, unit, words):
    body = {"user_id": "u", "image": b64(picture()), "controlnet_units": [unit]}
    response = api.post("/generate/controlnet", body, format="json")
    assert response.status_code == 400
    assert words in response.json()["detail"]
    assert not Job.objects.exists()


def test_more_units_than_control_net_unit_count_is_a_400(api, backend, sim):
    unit = {"model": "control_v11p_sd15_canny", "module": "canny"}
    body = {"user_id": "u", "image": b64(picture()), "controlnet_units": [unit] * 4}
    response = api.post("/generate/controlnet", body, format="json")
    assert response.status_code == 400
    assert "control_net_unit_count" in response.json()["detail"]


def test_a_unit_without_any_image_is_a_400(api, backend, sim):
    body = {
        "user_id": "u",
        "controlnet_units": [{"model": "control_v11p_sd15_canny", "module": "canny"}],
    }
    response = api.post("/generate/controlnet", body, format="json")
    assert response.status_code == 400 and "Unit 0 has no image" in response.json()["detail"]


def test_a_user_key_cannot_generate_for_another_user(user_api, backend, sim):
    response = user_api("alice").post(
        "/generate/controlnet", {**BRIEF_DATA, "image": b64(picture())}, format="json"
    )
    assert response.status_code == 403


# --- listings and the preprocessor --------------------------------------------------------
def test_models_and_modules_come_from_the_backend(api, backend, sim):
    models = api.get("/controlnet/models").json()
    assert "control_openpose-fp16 [9ca67cc5]" in models["models"] and models["unit_count"] == 3
    modules = {m["name"]: m for m in api.get("/controlnet/modules").json()["modules"]}
    assert modules["canny"]["sliders"][1]["name"] == "Low Threshold"
    assert modules["reference_only"]["model_free"] is True


def test_preprocess_returns_a_map_derived_from_the_upload(api, backend, sim):
    response = api.post(
        "/controlnet/preprocess",
        {"image": io.BytesIO(picture((96, 64))), "module": "canny", "processor_res": 64},
        format="multipart",
    )
    assert response.status_code == 200, response.json()
    (image,) = response.json()["images"]
    detected = Image.open(io.BytesIO(base64.b64decode(image)))
    low, high = detected.convert("L").getextrema()
    assert detected.format == "PNG" and low < high
    (sent,) = [h for h in sim_history(sim) if h["route"] == "/controlnet/detect"]
    assert sent["payload"]["controlnet_module"] == "canny"


def test_preprocess_with_openpose_returns_poses(api, backend, sim):
    body = {"image": b64(picture()), "preprocessor": "openpose_full"}
    response = api.post("/controlnet/preprocess", body, format="json")
    assert response.status_code == 200 and response.json()["poses"]


def test_preprocess_refuses_an_unknown_module_listing_the_valid_ones(api, backend, sim):
    response = api.post(
        "/controlnet/preprocess", {"image": b64(picture()), "module": "edges"}, format="json"
    )
    detail = response.json()["detail"]
    assert response.status_code == 400 and "Valid: none, " in detail and ", canny," in detail


def test_preprocess_passes_on_the_extensions_refusal_as_a_400(api, backend, sim):
    body = {"image": b64(picture()), "module": "ip-adapter-auto"}
    response = api.post("/controlnet/preprocess", body, format="json")
    assert response.status_code == 400 and "Module not supported" in response.json()["detail"]


@pytest.fixture(scope="module")
def bare_sim():
    """A1111 without the ControlNet extension."""
    from a1111sim.server import SimConfig, start_in_thread

    server = start_in_thread(SimConfig(port=0, step_ms=0, swap_ms=0, controlnet=False))
    yield server
    server.shutdown()


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("get", "/controlnet/models", None),
        ("get", "/controlnet/modules", None),
        ("post", "/controlnet/preprocess", {"image": "x", "module": "canny"}),
        ("post", "/generate/controlnet", BRIEF_DATA),
    ],
)
def test_without_the_extension_every_controlnet_endpoint_answers_409(
    api, db, bare_sim, method, path, body
):
    Backend.objects.create(name="bare", url=bare_sim.url)
    response = getattr(api, method)(path, body, format="json") if body else api.get(path)
    assert response.status_code == 409
    assert response.json()["error"] == "controlnet_unavailable"
    assert "ControlNet extension" in response.json()["detail"]


def test_the_openapi_schema_documents_every_extension_endpoint_with_the_briefs_examples(api):
    schema = api.get("/openapi.json").json()
    paths = schema["paths"]
    for path in ("/generate/controlnet", "/generate/regional", "/controlnet/models",
                 "/controlnet/modules", "/controlnet/preprocess", "/regional/layouts"):  # fmt: skip
        assert path in paths
    multipart = paths["/generate/controlnet"]["post"]["requestBody"]["content"][
        "multipart/form-data"
    ]
    (example,) = multipart["examples"].values()
    assert example["value"]["controlnet_units"][0]["preprocessor"] == "openpose_full"
    regional_json = paths["/generate/regional"]["post"]["requestBody"]["content"][
        "application/json"
    ]
    assert any(
        e["value"]["regional_config"].get("layout") == "three_columns"
        for e in regional_json["examples"].values()
    )


def test_a_controlnet_job_runs_only_on_a_backend_that_has_the_extension(
    api, cluster, bare_sim, sim
):
    # The bare backend comes first and is free, but cannot run ControlNet units.
    bare = Backend.objects.create(name="bare", url=bare_sim.url)
    capable = Backend.objects.create(name="sim", url=sim.url)
    units = [{"module": "canny", "model": "control_v11p_sd15_canny", "image": b64(picture())}]
    body = {"user_id": "u1", "prompt": "x", "width": 64, "height": 64, "controlnet_units": units}
    assert api.post("/generate/controlnet", body, format="json").status_code == 202
    cluster.drain()
    job = Job.objects.get()
    assert job.status == "completed", job.message
    assert job.backend == capable
    bare.refresh_from_db()
    assert bare.capabilities["controlnet"] is False


def test_a_module_named_by_its_label_is_accepted_as_the_extension_accepts_it(
    api, backend, cluster, sim
):
    """module_list answers names ("depth"); the UI, infotexts and most examples use labels
    ("depth_midas"), which the extension takes too: so does the hub, sending the label."""
    body = {
        "user_id": "u1", "prompt": "x", "width": 64, "height": 64,
        "controlnet_units": [{"module": "depth_midas", "model": "control_v11f1p_sd15_depth",
                              "image": b64(picture())}],
    }  # fmt: skip
    response = api.post("/generate/controlnet", body, format="json")
    assert response.status_code == 202, response.json()
    cluster.drain()
    assert Job.objects.get().status == "completed", Job.objects.get().message
    unit = sent_payload(sim, "/sdapi/v1/txt2img")["alwayson_scripts"]["controlnet"]["args"][0]
    assert unit["module"] == "depth_midas"
    preprocess = {"image": b64(picture()), "module": "T2IA_COLOR_GRID"}
    response = api.post("/controlnet/preprocess", preprocess, format="json")
    assert response.status_code == 200 and response.json()["module"] == "t2ia_color_grid"
