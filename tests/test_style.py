"""The code stays ruff-clean (the house style), checked with the suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_ruff_clean() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is a dev dependency: pip install -e '.[dev]'"
    result = subprocess.run(
        [ruff, "check", "pipeline", "tests"], cwd=REPO, capture_output=True, text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
