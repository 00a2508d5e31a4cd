"""Regional prompting: the pure prompt/args writer, then the endpoint end to end on a1111sim."""

from __future__ import annotations

import base64
import io

import pytest
import requests
from PIL import Image

from backends.models import Backend
from generation_app.models import Job
from generation_app.regional import plan as regional
from generation_app.regional.plan import Region, RegionalError, RegionalSpec, plan

BRIEF_REGIONAL = {
    "user_id": "user123",
    "prompt": "masterpiece, high quality",
    "regional_config": {
        "layout": "three_columns",
        "common_prompt": "fantasy tavern scene",
        "region1_prompt": "knight in armor drinking",
        "region2_prompt": "fireplace with warm lighting",
        "region3_prompt": "bard playing lute",
    },
    "width": 768,
    "height": 512,
    "steps": 25,
}


def regions(*prompts: str) -> list[Region]:
    return [Region(p) for p in prompts]


# --- the args list, against the contract page §9 ----------------------------------------
def test_the_args_are_the_twenty_slots_in_the_contracts_order_and_types():
    args = plan(RegionalSpec(regions=regions("a", "b"), layout="two_columns")).args
    assert len(args) == 20
    assert args[0] is True  # active
    assert args[1] is False  # debug
    assert args[2:6] == ["Matrix", "Columns", "Mask", "Prompt"]
    assert args[6] == "1,1" and isinstance(args[7], str)  # ratios and base ratio are strings
    assert args[8] is False and args[9] is False and args[10] is False
    assert args[11] == "Attention"
    assert args[12] == ["disable convert 'AND' to 'BREAK'"]
    assert args[13:16] == ["0", "0", "0"]
    assert args[16] == ""
    assert args[17:19] == ["0", "0"]
    assert args[19] is False


@pytest.mark.parametrize(
    "layout, direction, ratios, prompt",
    [
        ("two_columns", "Columns", "1,1", "r1 BREAK r2"),
        ("three_columns", "Columns", "1,1,1", "r1 BREAK r2 BREAK r3"),
        ("two_rows", "Rows", "1,1", "r1 BREAK r2"),
        ("three_rows", "Rows", "1,1,1", "r1 BREAK r2 BREAK r3"),
        ("grid_2x2", "Columns", "1,1,1;1,1,1", "r1 ADDCOL r2 ADDROW r3 ADDCOL r4"),
    ],
)
def test_every_layout_writes_its_split_ratios_and_separators(layout, direction, ratios, prompt):
    count = regional.region_count(ratios)
    result = plan(
        RegionalSpec(regions=regions(*[f"r{i + 1}" for i in range(count)]), layout=layout)
    )
    assert (result.args[3], result.args[6], result.prompt) == (direction, ratios, prompt)
    assert result.region_count == count


def test_the_common_prompt_comes_first_with_addcomm_and_turns_on_use_common():
    result = plan(
        RegionalSpec(
            regions=regions("knight", "fire", "bard"),
            prompt="masterpiece",
            common_prompt="tavern",
            layout="three_columns",
        )
    )
    assert result.prompt == "masterpiece, tavern ADDCOMM\nknight BREAK fire BREAK bard"
    assert result.args[9] is True and result.args[8] is False


def test_the_requests_prompt_alone_becomes_the_common_prompt():
    result = plan(RegionalSpec(regions=regions("a", "b"), prompt="masterpiece", layout="two_rows"))
    assert result.prompt.startswith("masterpiece ADDCOMM\n")


def test_the_base_prompt_follows_the_common_one_with_its_ratio():
    result = plan(
        RegionalSpec(
            regions=regions("a", "b"),
            common_prompt="c",
            base_prompt="b0",
            base_ratio=[0.2, 0.5],
            layout="two_columns",
        )
    )
    assert result.prompt == "c ADDCOMM\nb0 ADDBASE\na BREAK b"
    assert result.args[7] == "0.2,0.5" and result.args[8] is True


def test_custom_rows_ratios_from_a_list():
    result = plan(
        RegionalSpec(
            regions=regions("a", "b"), ratios=regional.ratio_string([2, 1]), direction="Rows"
        )
    )
    assert (result.args[3], result.args[6]) == ("Rows", "2,1")


def test_a_custom_matrix_counts_cells_per_row_and_writes_addcol_within_rows():
    ratios = regional.ratio_string([[1, 2, 1], [1, 1, 1, 1]])
    assert ratios == "1,2,1;1,1,1,1" and regional.region_count(ratios) == 5
    result = plan(RegionalSpec(regions=regions(*"abcde"), layout="custom", ratios=ratios))
    assert result.prompt == "a ADDCOL b ADDROW c ADDCOL d ADDCOL e"


def test_a_rows_first_matrix_writes_addrow_within_columns():
    result = plan(RegionalSpec(regions=regions(*"abc"), ratios="1,1;1,1,1", direction="Rows"))
    assert result.prompt == "a ADDCOL b ADDROW c"


def test_per_region_negatives_become_break_chunks_with_the_common_negative_in_each():
    spec = RegionalSpec(
        regions=[Region("a", "hat"), Region("b")], negative_prompt="blurry", layout="two_columns"
    )
    assert plan(spec).negative_prompt == "blurry, hat BREAK blurry"


def test_without_region_negatives_the_negative_prompt_is_left_as_given():
    spec = RegionalSpec(regions=regions("a", "b"), negative_prompt="blurry", layout="two_columns")
    assert plan(spec).negative_prompt == "blurry"


def test_latent_mode_keeps_the_and_conversion():
    spec = RegionalSpec(regions=regions("a", "b"), layout="two_columns", calc_mode="Latent")
    assert plan(spec).args[11:13] == ["Latent", []]


@pytest.mark.parametrize(
    "spec, field",
    [
        (RegionalSpec(regions=regions("a", "b"), layout="three_columns"), "regions"),
        (RegionalSpec(regions=regions("a", "b", "c"), layout="grid_2x2"), "regions"),
        (RegionalSpec(regions=regions("a BREAK b", "c"), layout="two_columns"), "region1_prompt"),
        (
            RegionalSpec(
                regions=regions("a", "b"), common_prompt="x ADDCOMM", layout="two_columns"
            ),
            "common_prompt",
        ),
        (RegionalSpec(regions=regions("a", ""), layout="two_columns"), "region2_prompt"),
        (RegionalSpec(regions=regions("a", "b"), layout="custom"), "ratios"),
        (
            RegionalSpec(regions=regions("a", "b"), layout="two_columns", base_ratio=1.5),
            "base_ratio",
        ),
    ],
)
def test_it_refuses_what_the_extension_would_misread(spec, field):
    with pytest.raises(RegionalError) as error:
        plan(spec)
    assert error.value.field == field


def test_bad_ratio_strings_are_refused():
    for bad in ("1,,1", "a,b", "0,1", []):
        with pytest.raises(RegionalError):
            regional.ratio_string(bad)


def test_the_layouts_table_has_each_layout_with_a_png_diagram_and_custom():
    table = {row["name"]: row for row in regional.layouts_table()}
    assert set(table) == {
        "two_columns",
        "three_columns",
        "two_rows",
        "three_rows",
        "grid_2x2",
        "custom",
    }
    assert table["grid_2x2"]["regions"] == 4
    png = base64.b64decode(table["three_rows"]["diagram"].removeprefix("data:image/png;base64,"))
    assert Image.open(io.BytesIO(png)).format == "PNG"


# --- the endpoint -------------------------------------------------------------------------
def sim_history(sim) -> list[dict]:
    return requests.get(f"{sim.url}/sim/state", timeout=5).json()["history"]


def test_the_briefs_regional_example_runs_with_three_visibly_different_columns(
    api, backend, cluster, sim
):
    response = api.post("/generate/regional", BRIEF_REGIONAL, format="json")
    assert response.status_code == 202, response.json()
    assert cluster.drain() == 1
    job = Job.objects.get()
    assert job.status == "completed", job.message
    assert job.kind == "regional"

    (sent,) = [h for h in sim_history(sim) if h["route"] == "/sdapi/v1/txt2img"]
    payload = sent["payload"]
    assert payload["prompt"] == (
        "masterpiece, high quality, fantasy tavern scene ADDCOMM\n"
        "knight in armor drinking BREAK fireplace with warm lighting BREAK bard playing lute"
    )
    args = payload["alwayson_scripts"]["Regional Prompter"]["args"]
    assert args[0] is True and args[6] == "1,1,1" and args[9] is True
    assert (payload["width"], payload["height"], payload["steps"]) == (768, 512, 25)
    assert job.info["extra_generation_params"]["RP Active"] is True

    result = api.get(f"/jobs/{job.pk}/result").json()
    image = Image.open(io.BytesIO(base64.b64decode(result["images"][0]))).convert("RGB")
    assert image.size == (768, 512)
    centres = [image.getpixel((x, 256)) for x in (128, 384, 640)]
    assert len(set(centres)) == 3  # each column tinted by its own prompt


def test_a_regions_list_with_custom_ratios_and_negatives_reaches_a1111(api, backend, cluster, sim):
    body = {
        "user_id": "u1",
        "prompt": "street",
        "negative_prompt": "blurry",
        "width": 256,
        "height": 256,
        "regional_config": {
            "layout": "custom",
            "ratios": [[1, 1, 1], [1, 2, 1]],
            "regions": ["sky", "moon", {"prompt": "stall", "negative_prompt": "people"}, "taxi"],
        },
    }
    assert api.post("/generate/regional", body, format="json").status_code == 202
    cluster.drain()
    assert Job.objects.get().status == "completed", Job.objects.get().message
    payload = [h for h in sim_history(sim) if h["route"] == "/sdapi/v1/txt2img"][0]["payload"]
    assert payload["prompt"] == "street ADDCOMM\nsky ADDCOL moon ADDROW stall ADDCOL taxi"
    assert payload["negative_prompt"] == "blurry BREAK blurry BREAK blurry, people BREAK blurry"
    assert payload["alwayson_scripts"]["Regional Prompter"]["args"][6] == "1,1,1;1,2,1"


def test_a_region_count_that_does_not_match_the_layout_is_a_400_before_queueing(api, backend, sim):
    body = {**BRIEF_REGIONAL, "regional_config": {**BRIEF_REGIONAL["regional_config"]}}
    del body["regional_config"]["region3_prompt"]
    response = api.post("/generate/regional", body, format="json")
    assert response.status_code == 400
    assert "3 regions" in response.json()["fields"]["regional_config"]["regions"][0]
    assert not Job.objects.exists()
    assert not [h for h in sim_history(sim) if h["route"].startswith("/sdapi/v1/txt")]


@pytest.mark.parametrize(
    "config, field, words",
    [
        ({"layout": "five_columns", "region1_prompt": "a"}, "layout", "Valid: two_columns"),
        ({"layout": "two_columns", "region1_prompt": "a", "region3_prompt": "c"}, "regions", "missing: region2_prompt"),
        ({"layout": "two_columns", "regoin1_prompt": "a"}, "regoin1_prompt", "Unknown field"),
    ],
)  # fmt: skip
def test_a_bad_regional_config_names_the_field(api, backend, config, field, words):
    response = api.post(
        "/generate/regional", {"user_id": "u", "regional_config": config}, format="json"
    )
    assert response.status_code == 400
    assert words in response.json()["fields"]["regional_config"][field][0]


def test_the_layouts_endpoint_lists_them(api):
    body = api.get("/regional/layouts").json()
    assert [row["name"] for row in body][:5] == [
        "two_columns",
        "three_columns",
        "two_rows",
        "three_rows",
        "grid_2x2",
    ]


@pytest.fixture(scope="module")
def bare_sim():
    """A1111 without the ControlNet and Regional Prompter extensions."""
    from a1111sim.server import SimConfig, start_in_thread

    server = start_in_thread(
        SimConfig(port=0, step_ms=0, swap_ms=0, controlnet=False, regional_prompter=False)
    )
    yield server
    server.shutdown()


def test_a_backend_without_the_extension_answers_409(api, db, bare_sim):
    Backend.objects.create(name="bare", url=bare_sim.url)
    response = api.post("/generate/regional", BRIEF_REGIONAL, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == "regional_prompter_unavailable"
    assert "Regional Prompter" in response.json()["detail"]


def test_a_preset_supplies_the_regional_config_when_the_request_has_none(
    api, backend, cluster, sim
):
    preset = api.post(
        "/presets/user123",
        {"name": "tavern", "regional_config": BRIEF_REGIONAL["regional_config"]},
        format="json",
    )
    assert preset.status_code == 201, preset.json()
    body = {
        "user_id": "user123",
        "prompt": "masterpiece",
        "preset_id": preset.json()["id"],
        "width": 768,
        "height": 512,
    }
    response = api.post("/generate/regional", body, format="json")
    assert response.status_code == 202, response.json()
    cluster.drain()
    job = Job.objects.get()
    assert job.status == "completed", job.message
    assert "bard playing lute" in job.payload["prompt"]
    assert (
        api.post(
            "/generate/regional", {"user_id": "user123", "prompt": "x"}, format="json"
        ).status_code
        == 400
    )
