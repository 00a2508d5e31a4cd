"""The OpenAPI document a client generator trusts, pinned without the tools:
what tests/test_generated_client.py and tests/test_schemathesis.py found, kept found."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator


@pytest.fixture(scope="module")
def document():
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", operation


def test_json_everywhere_multipart_with_its_own_schema_and_no_form_urlencoded(document):
    for name, operation in _operations(document):
        content = operation.get("requestBody", {}).get("content", {})
        if not content:
            continue
        assert "application/json" in content, name
        assert "application/x-www-form-urlencoded" not in content, name
        if "multipart/form-data" in content:
            assert (
                content["multipart/form-data"]["schema"] != content["application/json"]["schema"]
            ), name


def test_every_operation_has_a_summary_a_description_and_the_errors_it_can_answer(document):
    for name, operation in _operations(document):
        assert operation.get("summary") and operation.get("description"), name
        assert "429" in operation["responses"], name
        if operation.get("requestBody"):
            assert {"400", "413", "415"} <= set(operation["responses"]), name


def test_paginated_lists_enums_and_typed_shapes(document):
    schemas = document["components"]["schemas"]
    page = document["paths"]["/jobs"]["get"]["responses"]["200"]["content"]["application/json"]
    ref = page["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schemas[ref]["properties"]) == {"count", "next", "previous", "results"}
    assert "$ref" in schemas["JobResult"]["properties"]["info"]
    assert schemas["Preset"]["properties"]["share_code"]["nullable"] is True  # null for others
    assert schemas["Preset"]["properties"]["loras"]["additionalProperties"]["type"] == "number"


def test_the_txt2img_example_is_the_briefs_request(document):
    body = document["paths"]["/generate/txt2img"]["post"]["requestBody"]["content"]
    examples = body["application/json"]["examples"]
    values = [e["value"] for e in examples.values()]
    assert any(v.get("sampler_name") == "DPM++ 2M Karras" and v["steps"] == 20 for v in values)


def test_metrics_and_images_declare_their_media_types(document):
    metrics = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    image = document["paths"]["/images/{job_id}/{name}"]["get"]["responses"]["200"]["content"]
    assert image["image/png"]["schema"]["format"] == "binary"


def test_cancelling_or_deleting_a_finished_job_declares_its_409(document):
    for method, path in (("delete", "/jobs/{job_id}"), ("post", "/jobs/{job_id}/cancel")):
        assert "409" in document["paths"][path][method]["responses"], (method, path)


def test_every_operation_declares_the_json_414_of_a_url_too_long(document):
    for name, operation in _operations(document):
        response = operation["responses"].get("414")
        assert response and "application/json" in response["content"], name


def test_every_operation_with_query_parameters_declares_the_400_naming_them(document):
    for name, operation in _operations(document):
        if any(p["in"] == "query" for p in operation.get("parameters", [])):
            assert "400" in operation["responses"], name


def test_event_streams_declare_each_event_and_its_json_data(document):
    for path, events in (
        ("/jobs/{job_id}/events", {"progress", "done", "preview", "job.completed"}),
        ("/users/{user_id}/events", {"job.started", "job.completed", "job.cancelled"}),
    ):
        responses = document["paths"][path]["get"]["responses"]
        schema = responses["200"]["content"]["text/event-stream"]["schema"]
        variants = schema.get("oneOf", [schema])
        names = {name for v in variants for name in v["properties"]["event"]["enum"]}
        assert events <= names, path
        for variant in variants:
            data = variant["properties"]["data"]
            assert data["type"] == "string" and data["contentMediaType"] == "application/json"
            assert data["contentSchema"], path
        assert list(responses["404" if "job_id" in path else "403"]["content"]) == [
            "application/json"
        ]


def test_health_takes_a_key_but_does_not_need_one(document):
    assert {} in document["paths"]["/health"]["get"]["security"]
