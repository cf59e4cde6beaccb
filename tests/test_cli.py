"""The command as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from pypdf import PdfReader


def test_python_dash_m_pipeline_build(project: Callable[[str | None], Path]) -> None:
    root = project("basic")
    environment = {**os.environ, "SOURCE_DATE_EPOCH": "1790000000"}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "build", "-j", "2"],
        cwd=root, capture_output=True, text=True, env=environment, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "output/guide.pdf: 12 pages, 3 chapters" in result.stderr
    assert len(PdfReader(root / "output" / "guide.pdf").pages) == 12


def test_bad_source_date_epoch(project: Callable[[str | None], Path]) -> None:
    root = project("basic")
    environment = {**os.environ, "SOURCE_DATE_EPOCH": "yesterday"}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "-C", str(root), "build"],
        capture_output=True, text=True, env=environment, timeout=300, check=False,
    )
    assert result.returncode == 1
    assert "SOURCE_DATE_EPOCH: must be whole seconds" in result.stderr
    assert "Traceback" not in result.stderr
