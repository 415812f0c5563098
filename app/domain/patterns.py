"""Regex building blocks that mean the same in Python and in ECMAScript (the dialect of OpenAPI
patterns): `\\s` does not (Python also counts \\x1c-\\x1f and \\x85 as spaces), so spell classes out."""

from __future__ import annotations

# Control characters (NUL aside) and every Unicode space, as one explicit class body.
_SPACES = r"\x01-\x20\x7f-\xa0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"
_BLANK = rf"\x00{_SPACES}"

# "Contains something visible, and no NUL" (PostgreSQL cannot store NUL in text). The leading class
# and the visible character are disjoint, so matching never backtracks over a long text.
VISIBLE = rf"^[{_SPACES}]*[^{_BLANK}][^\x00]*$"
NO_NUL = r"^[^\x00]*$"
EMAIL = rf"^[^@{_BLANK}]+@[^@{_BLANK}]+$"
NO_BLANKS = rf"^[^{_BLANK}]+$"
URL = rf"^https?://[^{_BLANK}]+$"
EMOJI_IN_PATH = rf"^[^{_BLANK}/]+$"
