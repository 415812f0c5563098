"""The TypeScript SDK: types generated from the committed OpenAPI document with openapi-typescript
(`make sdk`), used through openapi-fetch by sdk/typescript/example.ts (the README's example), which must
compile under `tsc --strict`: a document change that breaks a TypeScript client breaks this test."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.services import unavailable

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
BIN = ROOT / "node_modules" / ".bin"


def run(*command: str | Path) -> str:
    done = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.mark.timeout(300)
def test_the_generated_types_compile_with_the_readme_example(tmp_path: Path) -> None:
    if not shutil.which("node") or not (BIN / "tsc").exists() or not (BIN / "openapi-typescript").exists():
        unavailable("node and the npm dev dependencies (npm ci) for the TypeScript SDK")
    types = tmp_path / "huddle.d.ts"
    run(BIN / "openapi-typescript", ROOT / "sdk" / "openapi.json", "-o", types)
    assert "operations" in types.read_text(encoding="utf-8")
    shutil.copy(ROOT / "sdk" / "typescript" / "example.ts", tmp_path / "example.ts")
    options = {
        "strict": True,
        "noEmit": True,
        "target": "ES2022",
        "module": "ESNext",
        "moduleResolution": "Bundler",
        "lib": ["ES2022", "DOM"],
        "baseUrl": ".",
        "paths": {"openapi-fetch": [str(ROOT / "node_modules" / "openapi-fetch")]},
    }
    config = tmp_path / "tsconfig.json"
    config.write_text(json.dumps({"compilerOptions": options, "files": ["example.ts"]}), encoding="utf-8")
    run(BIN / "tsc", "-p", config)
