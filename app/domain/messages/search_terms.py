"""A search query split for the SQL store: words its full-text index finds, and fragments it cannot
(scripts written without spaces, emoji, words with symbols such as `C++`, which the tokenizers split
or drop), matched as case-insensitive substrings of the text."""

from __future__ import annotations

import re
from typing import NamedTuple

_EDGE = "\"'`()[]{}<>,.;:!?"  # punctuation around a word, never part of what is looked for
_WORD = re.compile(r"\w+")
# Scripts written without spaces between words: the index holds whole runs of them as one token.
_UNSPACED = re.compile(
    r"[\u0e00-\u0eff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]"
)


class Terms(NamedTuple):
    words: list[str]
    fragments: list[str]  # lower-cased


def split_query(query: str) -> Terms:
    words: list[str] = []
    fragments: list[str] = []
    for raw in query.split():
        term = raw.strip(_EDGE)
        if not term:
            continue
        if _WORD.fullmatch(term) and not _UNSPACED.search(term):
            words.append(term)
        else:
            fragments.append(term.lower())
    return Terms(words, fragments)
