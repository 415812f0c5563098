"""The layers point one way: pyproject.toml's import-linter contracts hold, so a lower layer importing a
higher one (the domain importing ws, streaming importing the domain, ...) fails `make test`."""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def _lint(root: Path) -> int:
    # import-linter configures its logging with dictConfig, which disables every logger that exists:
    # the app's access log among them, for whatever test runs next in this process.
    loggers = [each for each in logging.root.manager.loggerDict.values() if isinstance(each, logging.Logger)]
    enabled = [each for each in loggers if not each.disabled]
    try:
        return lint_imports(config_filename=str(root / "pyproject.toml"), no_cache=True, no_logo=True)
    finally:
        for each in enabled:
            each.disabled = False


def test_the_import_contracts_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert _lint(ROOT) == 0, "a module imports a higher layer: see the contract above, docs/architecture.md"


def test_a_domain_module_importing_ws_breaks_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "tree"
    shutil.copytree(ROOT / "app", copy / "app", ignore=shutil.ignore_patterns("static", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    events = copy / "app" / "domain" / "events.py"
    events.write_text(events.read_text() + "\nimport app.ws.delivery  # noqa\n")
    monkeypatch.chdir(copy)
    monkeypatch.syspath_prepend(str(copy))
    for name in [name for name in sys.modules if name == "app" or name.startswith("app.")]:
        monkeypatch.delitem(sys.modules, name)  # the copy's app is the one to analyse
    assert _lint(copy) == 1
