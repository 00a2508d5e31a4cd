"""A small LoRA catalog and a few jobs for the admin pages."""

from __future__ import annotations

import pytest

from loras_app import search
from loras_app.models import Lora, LoraTag, Tag

CATALOG = [
    # filename, display name, trigger words, tags
    ("style_lora.safetensors", "Watercolor Style", ["watercolor", "wet paint"], ["painting"]),
    ("watercolor_flowers_v2.safetensors", "Watercolor Flowers", ["flowers"], ["flowers"]),
    ("cyberpunk_city.safetensors", "Cyberpunk City", [], ["neon", "city"]),
    ("add_detail.safetensors", "add_detail", [], ["detail"]),
]


def make_lora(filename: str, name: str, triggers: list[str], tags: list[str]) -> Lora:
    lora = Lora(
        filename=filename,
        name=name,
        alias=name,
        prompt_name=name,
        relative_path=filename,
        trigger_words=triggers,
        size=12_345_678,
    )
    lora.search_text, lora.name_key = search.index_columns(lora, tags)
    lora.save()
    for tag in tags:
        LoraTag.objects.create(lora=lora, tag=Tag.objects.get_or_create(name=tag)[0], frequency=5)
    return lora


@pytest.fixture
def catalog(db) -> dict[str, Lora]:
    return {row[0]: make_lora(*row) for row in CATALOG}
