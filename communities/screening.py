"""Prompt screening: banned words found however they are disguised, as words, never as
parts of words (a list with "ass" refuses "a$$" but not "class" or "bass guitar").

A prompt is transliterated to ASCII (anyascii: accents, and look-alike letters from other
scripts such as Cyrillic "а"), lower-cased, and split into words; each word is also read
with leetspeak undone ("g0r3"), and runs of single letters are read joined ("g o r e",
"n.4.k.3.d"). A banned entry of several words matches those words in a row.
"""

from __future__ import annotations

import re
from functools import lru_cache

from anyascii import anyascii

WORD = re.compile(r"[a-z0-9@$!|+]+")
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b",
                      "9": "g", "@": "a", "$": "s", "!": "i", "|": "l", "+": "t"})  # fmt: skip
LEET_ONE_AS_L = str.maketrans({"1": "l", "!": "l"})


def _words(text: str) -> list[str]:
    return WORD.findall(anyascii(text).lower())


def _readings(word: str) -> set[str]:
    """A word as written and with leetspeak undone (``1`` and ``!`` as i, or as l)."""
    bare = word.strip("!|+")
    readings = {word, bare, word.translate(LEET), bare.translate(LEET)}
    readings.add(word.translate(LEET_ONE_AS_L).translate(LEET))
    return {r for r in readings if r}


def _joined_runs(words: list[str]) -> list[str]:
    """Runs of two or more one-character words, joined: "g o r e" -> "gore"."""
    runs, current = [], []
    for word in [*words, ""]:
        if len(word) == 1:
            current.append(word)
            continue
        if len(current) > 1:
            runs.append("".join(current))
        current = []
    return runs


@lru_cache(maxsize=256)
def _compiled(banned: tuple[str, ...]) -> tuple[frozenset[str], tuple[tuple[str, ...], ...]]:
    singles, phrases = set(), []
    for entry in banned:
        words = tuple(w.translate(LEET) for w in _words(entry))
        if len(words) == 1:
            singles.add(words[0])
        elif words:
            phrases.append(words)
    return frozenset(singles), tuple(phrases)


def banned_words_in(text: str, banned: list[str] | tuple[str, ...]) -> list[str]:
    """The banned entries ``text`` contains (normalised as they matched), sorted."""
    if not banned or not text:
        return []
    singles, phrases = _compiled(tuple(sorted(banned)))
    words = _words(text)
    found = set()
    for word in [*words, *_joined_runs(words)]:
        found |= _readings(word) & singles
    if phrases:
        plain = [word.translate(LEET) for word in words]
        line = f" {' '.join(plain)} "
        found |= {" ".join(p) for p in phrases if f" {' '.join(p)} " in line}
    return sorted(found)
