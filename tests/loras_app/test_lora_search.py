"""Search ranking as a user types it, autocomplete and "did you mean"."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loras_app import edits, search
from loras_app.models import Lora, LoraTag, Tag

pytestmark = pytest.mark.django_db

CATALOG = [
    # filename, display name, trigger words, tags
    ("character_lora_v2.safetensors", "character_lora_v2", ["chara"], ["1girl", "solo"]),
    ("style_lora.safetensors", "Watercolor Style", ["watercolor"], ["painting"]),
    ("anime_eyes-v1.safetensors", "AnimeEyes", ["detailed eyes"], ["anime", "eyes"]),
    ("cyberpunk_city.safetensors", "Cyberpunk City", [], ["neon", "city"]),
    ("chapter_book.safetensors", "chapter_book", [], []),
    ("add_detail.safetensors", "add_detail", [], ["detail"]),
    ("ghibli_style_offset.safetensors", "Ghibli Style", ["ghibli"], ["anime", "landscape"]),
    ("pony_anime_mix.safetensors", "pony anime mix", [], []),
]


@pytest.fixture
def catalog(db):
    for filename, name, triggers, tags in CATALOG:
        lora = Lora(
            filename=filename,
            name=name,
            alias=name,
            prompt_name=name,
            relative_path=filename,
            trigger_words=triggers,
        )
        lora.search_text, lora.name_key = search.index_columns(lora, tags)
        lora.save()
        for tag in tags:
            LoraTag.objects.create(
                lora=lora, tag=Tag.objects.get_or_create(name=tag)[0], frequency=5
            )


def top(query: str, n: int = 3, **filters) -> list[str]:
    _, ids = search.search(query, search.Filters(**filters), limit=n)
    names = dict(Lora.objects.values_list("id", "filename"))
    return [names[i] for i in ids]


def test_normalize_forgives_case_separators_camel_case_and_extensions():
    assert search.normalize("Character_Lora-v2.safetensors") == "character lora v2"
    assert search.normalize("AnimeEyes") == "anime eyes"
    assert search.without_version("character lora v2") == "character lora"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("character_lora_v2.safetensors", "character_lora_v2.safetensors"),  # exact
        ("character lora", "character_lora_v2.safetensors"),  # separators, version suffix
        ("CHARACTER-LORA", "character_lora_v2.safetensors"),  # case
        ("chracter", "character_lora_v2.safetensors"),  # typo
        ("charcter lora", "character_lora_v2.safetensors"),  # typo + second word
        ("lora character", "character_lora_v2.safetensors"),  # word order
        ("cyber", "cyberpunk_city.safetensors"),  # prefix
        ("punk", "cyberpunk_city.safetensors"),  # substring
        ("cyberpnuk", "cyberpunk_city.safetensors"),  # transposition
        ("anime eyes", "anime_eyes-v1.safetensors"),  # camelCase name
        ("watercolor", "style_lora.safetensors"),  # display name / trigger word
        ("ghibli", "ghibli_style_offset.safetensors"),
        ("landscape", "ghibli_style_offset.safetensors"),  # tag
        ("chara", "character_lora_v2.safetensors"),  # trigger word and prefix
    ],
)
def test_the_loRA_a_user_means_comes_first(catalog, query, expected):
    assert top(query, 1) == [expected]


def test_exact_and_prefix_matches_rank_above_fuzzy_ones(catalog):
    assert top("chapter", 2) == ["chapter_book.safetensors", "character_lora_v2.safetensors"]


def test_a_search_for_a_tag_finds_every_lora_tagged_with_it(catalog):
    found = top("anime", 10)
    assert found[:2] == ["anime_eyes-v1.safetensors", "pony_anime_mix.safetensors"]
    assert "ghibli_style_offset.safetensors" in found


def test_filters_narrow_the_results(catalog):
    Lora.objects.filter(filename="pony_anime_mix.safetensors").update(base_model="Pony")
    assert top("anime", 10, base_model="pony") == ["pony_anime_mix.safetensors"]
    assert top("", 10, tag="eyes") == ["anime_eyes-v1.safetensors"]
    Lora.objects.filter(filename="add_detail.safetensors").update(enabled=False)
    assert top("add detail", 10) == []
    assert top("add detail", 10, enabled=False) == ["add_detail.safetensors"]


def test_an_empty_search_lists_everything_newest_first(catalog):
    total, ids = search.search("", limit=3)
    assert total == len(CATALOG)
    assert ids == list(Lora.objects.order_by("-first_seen", "-id").values_list("id", flat=True)[:3])


def test_nonsense_finds_nothing(catalog):
    assert top("qqqqzzzz", 10) == []


def add_anime_styles(count: int) -> None:
    for i in range(count):
        lora = Lora(
            filename=f"anime_style_{i:02}.safetensors",
            name=f"anime_style_{i:02}",
            prompt_name="x",
            relative_path="x",
        )
        lora.search_text, lora.name_key = search.index_columns(lora, [])
        lora.save()


def test_autocomplete_answers_at_most_25_choices(db):
    add_anime_styles(40)
    choices = search.autocomplete("anime", limit=100)
    assert len(choices) == 25
    assert all(set(c) == {"name", "value"} and len(c["name"]) <= 100 for c in choices)
    assert len(search.autocomplete("")) == 25


def test_suggest_names_the_closest_filenames(catalog):
    assert search.suggest("charcter_lora.safetensors")[0] == "character_lora_v2.safetensors"


def test_the_search_index_follows_an_edit(catalog):
    lora = Lora.objects.get(filename="chapter_book.safetensors")
    lora.name = "Storybook Pages"
    lora.save()
    edits.mark_edited(lora, ["name"])
    assert top("storybook", 1) == ["chapter_book.safetensors"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ghbli", "ghibli_style_offset.safetensors"),  # a typo in a short word
        ("anme eyes", "anime_eyes-v1.safetensors"),
        ("watercolr style", "style_lora.safetensors"),
    ],
)
def test_a_typo_in_a_short_query_still_finds_the_lora(catalog, query, expected):
    assert top(query, 1) == [expected]


def test_the_postgresql_word_similarity_threshold_keeps_one_typo():
    # One edit inside a word of n letters: (n - 2) / (n + 4), within the bounds; a short
    # query widens when that finds too few rows.
    assert search._pg_thresholds("chapter") == [search.PG_MIN_SIMILARITY, 0.35]
    assert search._pg_thresholds("watercolr") == [0.54, 0.35]
    assert search._pg_thresholds("watercolr style") == [search.PG_MAX_SIMILARITY]
    assert search._pg_thresholds("chapter", typed=10) == [search.PG_MIN_SIMILARITY]


def _vendor() -> str:
    return connection.vendor


def test_postgresql_searches_a_gin_trigram_index(db):
    if _vendor() != "postgresql":
        pytest.skip("PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
            [Lora._meta.db_table, "%search_text%"],
        )
        definitions = [row[0] for row in cursor.fetchall()]
    assert len(definitions) == 1 and "USING gin (search_text gin_trgm_ops)" in definitions[0]


def test_a_query_found_as_typed_skips_the_typo_tolerant_pass(db):
    add_anime_styles(search.ENOUGH + 5)
    with CaptureQueriesContext(connection) as typed:
        assert search.search("nime styl", limit=10)[0] >= search.ENOUGH
    with CaptureQueriesContext(connection) as typo:
        search.search("anmie style", limit=10)
    assert len(typed.captured_queries) < len(typo.captured_queries)


@pytest.mark.django_db(transaction=True)
def test_the_postgresql_threshold_does_not_outlive_the_search():
    if _vendor() != "postgresql":
        pytest.skip("PostgreSQL only")
    with connection.cursor() as cursor:
        # pg_trgm registers its settings when the session first uses it.
        cursor.execute("SELECT similarity('a', 'b')")
        cursor.execute("SHOW pg_trgm.word_similarity_threshold")
        before = cursor.fetchone()[0]
        search.search("charcter")
        cursor.execute("SHOW pg_trgm.word_similarity_threshold")
        assert cursor.fetchone()[0] == before
