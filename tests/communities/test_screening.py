"""Prompt screening: disguised banned words are found; ordinary prompts never refused."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from communities.screening import banned_words_in

ROOT = Path(__file__).resolve().parents[2]
# A list an operator of a general-audience server might set.
BANNED = [
    "gore", "ass", "naked", "nude", "nsfw", "sex", "porn", "blood bath", "tits", "cum",
    "hentai", "rape", "kill", "dick", "cock", "shit", "fuck", "boob", "nazi", "loli",
]  # fmt: skip


@pytest.mark.parametrize(
    "prompt", ["gore", "GORE!", "g0r3", "g o r e", "g.o.r.e", "ɡore", "gоre", "góre", "a$$"]
)
def test_a_disguised_banned_word_is_found(prompt):
    assert banned_words_in(f"a scene with {prompt} everywhere", ["gore", "ass"])


def test_spaced_leetspeak_and_phrases_are_found():
    assert banned_words_in("n 4 k 3 d woman on a beach", BANNED) == ["naked"]
    assert banned_words_in("a Blood  Bath in the arena", BANNED) == ["blood bath"]


@pytest.mark.parametrize(
    "prompt",
    ["class portrait", "bass guitar on a stage", "assassin in the rain", "grass field",
     "Scunthorpe town hall", "a cocktail at sunset", "passport photo", "the therapist's office",
     "skill tree", "cumulus clouds", "shiitake mushrooms", "hancock park", "dickens novel"],
)  # fmt: skip
def test_a_banned_word_inside_another_word_is_not_a_match(prompt):
    assert banned_words_in(prompt, BANNED) == []


SUBJECTS = [
    "a lighthouse at dusk", "a red fox in the snow", "portrait of an old fisherman",
    "a cyberpunk street market", "a cat wearing a tiny hat", "mountain lake at sunrise",
    "a knight in shining armour", "an astronaut riding a horse", "a cozy library with candles",
    "a steampunk airship over a city", "a bowl of ramen, food photography",
    "a classical marble statue", "a bass player on a neon stage", "a passage through the woods",
    "a glass greenhouse full of ferns", "the Scunthorpe steelworks at night",
    "an assassin's creed style rooftop", "a class of students in an old school",
    "a massive waterfall in Iceland", "a sushi chef at work",
]  # fmt: skip
STYLES = [
    "oil painting", "watercolor", "studio ghibli style", "8 k, highly detailed",
    "cinematic lighting", "by greg rutkowski", "isometric 3d render", "pixel art",
    "film photo, 35 mm", "ukiyo-e woodblock print",
]  # fmt: skip


def ordinary_prompts() -> list[str]:
    """The brief's and the README's prompts, and 200 of our own (subject x style)."""
    texts = [
        (ROOT / "README.md").read_text(),
        *(p.read_text() for p in (ROOT / "docs").rglob("*.md")),
    ]
    documented = [
        line.split('"prompt":', 1)[1].split('"')[1]
        for text in texts
        for line in text.splitlines()
        if '"prompt":' in line and line.split('"prompt":', 1)[1].count('"') >= 2
    ]
    own = [f"{subject}, {style}" for subject, style in itertools.product(SUBJECTS, STYLES)]
    return documented + own


def test_no_ordinary_prompt_is_refused():
    prompts = ordinary_prompts()
    assert len(prompts) >= 200
    refused = {p: banned_words_in(p, BANNED) for p in prompts}
    assert {p: w for p, w in refused.items() if w} == {}
