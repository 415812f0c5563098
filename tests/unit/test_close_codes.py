"""One name a close code, and the SPA's copy of them agrees with the server's `CloseCode`."""

from __future__ import annotations

import re
from pathlib import Path

from app.ws.fanout import CloseCode

JS = Path(__file__).resolve().parents[2] / "app" / "static" / "js"


def _spa_close_codes() -> dict[str, dict[str, int]]:
    """Every `CloseCode = { NAME: number, ... }` object literal in the SPA, by file."""
    found = {}
    for path in sorted(JS.rglob("*.js")):
        for body in re.findall(r"\bCloseCode\s*=\s*(?:Object\.freeze\()?\{([^}]*)\}", path.read_text()):
            found[path.name] = {name: int(value) for name, value in re.findall(r"(\w+)\s*:\s*(\d+)", body)}
    return found


def test_every_code_has_one_name() -> None:
    assert len({int(code) for code in CloseCode}) == len(CloseCode.__members__)


def test_the_spa_copy_matches_the_server() -> None:
    copies = _spa_close_codes()
    assert copies, "the SPA's CloseCode (app/static/js/realtime.js) was not found"
    server = {code.name: int(code) for code in CloseCode}
    for name, codes in copies.items():
        assert codes, name
        assert {key: server.get(key) for key in codes} == codes, (
            f"{name}: a CloseCode the server does not have"
        )


def test_the_spa_uses_only_names_it_declares() -> None:
    declared = set().union(*(codes for codes in _spa_close_codes().values()))
    used = {name for path in JS.rglob("*.js") for name in re.findall(r"\bCloseCode\.(\w+)", path.read_text())}
    assert used <= declared
