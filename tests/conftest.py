"""Shared fixtures: fixture books copied into a temporary project and built once."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path

import pytest
from pypdf import PdfReader

from pipeline.build import build
from pipeline.model import BuildReport
from pipeline.pdftext import Page, read_pages

REPO = Path(__file__).resolve().parents[1]
BOOKS = REPO / "tests" / "books"
EPOCH = 1_790_000_000  # a fixed SOURCE_DATE_EPOCH
TODAY = date(2026, 11, 26)  # preflight's "today", for the review-date check
# Each command starts its own workers' server, which exits with it: no test
# leaves a server running (tests/test_server.py tests the one kept warm).
os.environ["BOOKLET_SERVER"] = "off"


def copy_project(target: Path, book: str | None = "basic") -> Path:
    """A project folder with the repo's styles and a fixture book's sources."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "styles", target / "styles")
    if book == "starter":
        shutil.copy(REPO / "booklet.toml", target / "booklet.toml")
        shutil.copytree(REPO / "chapters", target / "chapters")
    elif book is not None:
        shutil.copytree(BOOKS / book, target, dirs_exist_ok=True)
    return target


@dataclass
class Built:
    root: Path
    report: BuildReport
    reader: PdfReader

    @property
    def pdf(self) -> Path:
        return self.report.output

    @cached_property
    def pages(self) -> list[Page]:
        return read_pages(self.pdf)


def build_book(root: Path, **options: object) -> Built:
    report = build(root, source_date_epoch=EPOCH, today=TODAY, **options)  # type: ignore[arg-type]
    return Built(root, report, PdfReader(report.output))


@pytest.fixture
def project(tmp_path: Path) -> Callable[[str | None], Path]:
    def make(book: str | None = "basic") -> Path:
        return copy_project(tmp_path / "project", book)

    return make


@pytest.fixture(scope="session")
def basic(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = copy_project(tmp_path_factory.mktemp("basic"), "basic")
    return build_book(root)


@pytest.fixture(scope="session")
def starter(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = copy_project(tmp_path_factory.mktemp("starter"), "starter")
    return build_book(root)


def pdfua_findings(pdf: Path) -> list[str]:
    """What the `pdfua` checker (a machine-checkable subset of PDF/UA-1) finds in a PDF.

    Rules the checker itself could not run are listed too, so that a test sees
    when a rule stops being checked (pdfua 0.1.3 cannot evaluate UA-14-001,
    non-empty headings, on a heading with more than one kid: our own check,
    tags.accessibility_problems, covers headings).
    """
    from pdfua import Validator

    report = Validator().validate(str(pdf))
    found = [f"{f.rule_id} page {f.location.page}: {f.message}" for f in report.findings]
    skipped = [f"{o.rule_id} skipped" for o in report.skipped if o.rule_id != "UA-14-001"]
    return found + skipped
