"""Names folded for people search, the same way in Python (the query) and in SQL (the column), so
that "cole", "Cole" and "Côle" all find "Bob Cole-Baker" on SQLite and on PostgreSQL.

Folding: lower case, accents dropped, letters that do not decompose spelled in ASCII (ß → ss),
hyphens and the like between words become spaces. SQLite gets `fold_name` itself as a SQL function
(registered on every connection by the engine); PostgreSQL gets the same table through translate().
"""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import ColumnElement, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler

SQLITE_FUNCTION = "huddle_fold"
_SPELLED = {"ß": "ss", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ø": "o", "Ø": "o", "ł": "l", "Ł": "l"}
_SPELLED |= {"đ": "d", "Đ": "d", "þ": "th", "Þ": "th", "ð": "d", "Ð": "d", "\u0131": "i", "ħ": "h", "Ħ": "h"}
_WORD_SEPARATORS = "-_.,'\u2019"  # the last: a typographic apostrophe


def fold_name(text: str | None) -> str | None:
    """Lower case, no accents, words separated by single spaces, with a space in front: `LIKE
    '% word%'` then finds the start of any word."""
    if text is None:
        return None
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(_SPELLED.get(c, c) for c in decomposed if not unicodedata.combining(c)).lower()
    for separator in _WORD_SEPARATORS:
        bare = bare.replace(separator, " ")
    return " " + " ".join(bare.split())


def _postgres_table() -> tuple[list[tuple[str, str]], str, str]:
    """Latin-1 and Latin Extended-A letters (both cases) with their folded spelling: the ones
    spelled with two letters, then translate()'s one-for-one source and target strings."""
    pairs = [(chr(code), (fold_name(chr(code)) or "").strip()) for code in range(0xC0, 0x180)]
    pairs = [(c, f) for c, f in pairs if f != c.lower() and f.isascii() and f.isalpha()]
    pairs += [(separator, " ") for separator in _WORD_SEPARATORS]
    longer = [(c, f) for c, f in pairs if len(f) > 1]
    single = [(c, f) for c, f in pairs if len(f) == 1]
    return longer, "".join(c for c, _ in single), "".join(f for _, f in single)


_LONGER, _FROM, _TO = _postgres_table()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"  # fixed tables only, never user input


class Folded(ColumnElement[str]):
    """`fold_name(column)` in SQL."""

    inherit_cache = True
    type = String()

    def __init__(self, column: InstrumentedAttribute[str] | InstrumentedAttribute[str | None]) -> None:
        self.column: ColumnElement[Any] = column.expression


@compiles(Folded, "sqlite")
def _fold_sqlite(element: Folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_FUNCTION}({compiler.process(element.column, **kw)})"


@compiles(Folded)
def _fold_postgres(element: Folded, compiler: SQLCompiler, **kw: Any) -> str:
    sql = f"lower({compiler.process(element.column, **kw)})"
    for letter, spelling in _LONGER:
        sql = f"replace({sql}, {_quote(letter)}, {_quote(spelling)})"
    sql = f"translate({sql}, {_quote(_FROM)}, {_quote(_TO)})"
    # Runs of spaces become one, as in fold_name.
    return f"(' ' || btrim(regexp_replace({sql}, '\\s+', ' ', 'g')))"


def register_sqlite(dbapi_connection: Any) -> None:
    dbapi_connection.create_function(SQLITE_FUNCTION, 1, fold_name, deterministic=True)
