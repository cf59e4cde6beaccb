"""Clinic handouts: branded, dated, short, with a QR code that reads back."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pypdfium2
import pytest
import zxingcpp
from conftest import EPOCH, REPO, copy_project, pdfua_findings
from pypdf import PdfReader

from pipeline.cli import main
from pipeline.handouts import HandoutReport, build_handouts
from pipeline.pdftext import read_pages

Project = Callable[[str | None], Path]
URL = "https://example.org/replace-with-request-form"
HOSTILE = """name = "St <b>Bold</b> {{ x }} </style> Clinic"
phone = "555 {% raw %} 0199"
address = ["1 <i>Main</i> St", "Town"]
paper = "a4"
note = "Ask for </style><script>alert(1)</script> the nurse"
"""


@pytest.fixture(scope="session")
def handouts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, HandoutReport]:
    root = copy_project(tmp_path_factory.mktemp("handouts"), "starter")
    shutil.copytree(REPO / "clinics", root / "clinics")
    example = (root / "clinics" / "example.toml").read_text(encoding="utf-8")
    (root / "clinics" / "second.toml").write_text(
        example.replace("Example Oncology Clinic", "Second Wound Care Centre")
        .replace("(555) 010-0100", "(555) 010-0222"),
        encoding="utf-8",
    )
    (root / "clinics" / "hostile.toml").write_text(HOSTILE, encoding="utf-8")
    return root, build_handouts(root, everything=True, source_date_epoch=EPOCH)


CLINICS = {
    "example": ("Example Oncology Clinic", "(555) 010-0100"),
    "second": ("Second Wound Care Centre", "(555) 010-0222"),
    "hostile": ("St <b>Bold</b> {{ x }} </style> Clinic", "555 {% raw %} 0199"),
}


def test_one_handout_per_clinic_and_chapter(handouts: tuple[Path, HandoutReport]) -> None:
    root, report = handouts
    made = sorted((h.clinic, h.chapter) for h in report.handouts)
    assert made == [(c, "skin-metastasis") for c in sorted(CLINICS)]
    for handout in report.handouts:
        assert handout.path == root / "output" / "handouts" / handout.clinic / "skin-metastasis.pdf"
        assert 1 <= handout.pages <= 4
    assert not [f for f in report.findings if f.severity == "error"]


@pytest.mark.parametrize("clinic", sorted(CLINICS))
def test_every_page_is_branded_dated_and_numbered(
    handouts: tuple[Path, HandoutReport], clinic: str
) -> None:
    root, _ = handouts
    path = root / "output" / "handouts" / clinic / "skin-metastasis.pdf"
    pages = read_pages(path)
    name, phone = CLINICS[clinic]
    for number, page in enumerate(pages, 1):
        text = page.text
        assert name in text, (clinic, number)  # literally, tags and braces included
        assert phone in text
        assert f"Page {number} of {len(pages)}" in text
        assert "Last reviewed: November 1, 2026" in text
    everything = "\n".join(p.text for p in pages)
    assert "This is not medical advice." in everything
    assert "Sources for this handout" in everything
    assert URL in everything.replace("\n", "")


def test_fields_are_printed_literally(handouts: tuple[Path, HandoutReport]) -> None:
    root, _ = handouts
    text = "\n".join(p.text for p in read_pages(
        root / "output" / "handouts" / "hostile" / "skin-metastasis.pdf"))
    assert "1 <i>Main</i> St" in text
    assert "Ask for </style><script>alert(1)</script> the nurse" in text
    box = PdfReader(root / "output" / "handouts" / "hostile" / "skin-metastasis.pdf").pages[0]
    assert round(float(box.mediabox.width)) == 595  # A4, as configured


def test_qr_code_reads_back_as_the_guide_url(handouts: tuple[Path, HandoutReport]) -> None:
    root, _ = handouts
    path = root / "output" / "handouts" / "example" / "skin-metastasis.pdf"
    image = pypdfium2.PdfDocument(str(path))[0].render(scale=3).to_pil()
    codes = zxingcpp.read_barcodes(image)
    assert [code.text for code in codes] == [URL]


def test_metadata_names_chapter_author_and_clinic(handouts: tuple[Path, HandoutReport]) -> None:
    root, _ = handouts
    info = PdfReader(root / "output" / "handouts" / "second" / "skin-metastasis.pdf").metadata
    assert info is not None
    assert info.title == "Skin metastasis and ulcerating wounds"
    assert info.author == "A patient advocate"
    assert info.subject == (
        "Handout: Skin metastasis and ulcerating wounds, from Second Wound Care Centre"
    )


def test_unbranded_and_single_handouts(project: Project, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    root = project("starter")
    shutil.copytree(REPO / "clinics", root / "clinics")
    assert main(["-C", str(root), "handouts", "--unbranded", "--chapter", "glossary"]) == 0
    path = root / "output" / "handouts" / "glossary.pdf"
    text = "\n".join(p.text for p in read_pages(path))
    assert "Living with Metastatic Breast Cancer" in text
    assert "Example Oncology Clinic" not in text
    assert main(["-C", str(root), "handouts", "--clinic", "example", "--chapter",
                 "questions"]) == 0
    assert (root / "output" / "handouts" / "example" / "questions.pdf").is_file()
    assert "handouts: 1 built" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (lambda c: (c / "example.toml").write_text(
            (c / "example.toml").read_text().replace("example-logo.svg", "missing.svg")),
         ["--clinic", "example", "--chapter", "glossary"],
         r"clinics/example.toml:\d+: logo file 'clinics/missing.svg' not found"),
        (lambda c: ((c / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really"),
                    (c / "example.toml").write_text(
                        (c / "example.toml").read_text().replace("example-logo.svg", "bad.png"))),
         ["--clinic", "example", "--chapter", "glossary"],
         r"clinics/example.toml:\d+: logo 'bad.png' is not a valid PNG image"),
        (lambda c: ((c / "bomb.svg").write_text(
            '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]><svg>&a;</svg>'),
                    (c / "example.toml").write_text(
                        (c / "example.toml").read_text().replace("example-logo.svg", "bomb.svg"))),
         ["--clinic", "example", "--chapter", "glossary"],
         r"clinics/example.toml:\d+: logo 'bomb.svg' is not a valid SVG image"),
        (lambda c: None, ["--clinic", "example", "--chapter", "nope"],
         r"--chapter: no chapter 'nope'"),
        (lambda c: None, ["--clinic", "exampel", "--chapter", "glossary"],
         r"clinics/exampel.toml: no clinic 'exampel' \(did you mean 'example'\?\)"),
        (lambda c: (c / "example.toml").write_text(
            (c / "example.toml").read_text() + 'fax = "1"\n'),
         ["--clinic", "example", "--chapter", "glossary"],
         r"clinics/example.toml:\d+: unknown key 'fax'"),
        (lambda c: (c / "example.toml").write_text(
            (c / "example.toml").read_text().replace('"#005a52"', '"#eeeeee"')),
         ["--clinic", "example", "--chapter", "glossary"],
         r"accent #eeeeee is too light to read on white paper"),
    ],
)
def test_bad_input(project: Project, capsys: pytest.CaptureFixture[str],
                   setup: Callable[[Path], object], args: list[str], message: str) -> None:
    root = project("starter")
    shutil.copytree(REPO / "clinics", root / "clinics")
    setup(root / "clinics")
    assert main(["-C", str(root), "handouts", *args]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert re.search(message, err), err
    assert not (root / "output" / "handouts").exists()  # nothing half-written


def test_only_one_chapter_with_book_folios(project: Project) -> None:
    root = project("starter")
    assert main(["-C", str(root), "build", "--only", "skin-metastasis"]) == 0
    book = PdfReader(root / "output" / "guide.pdf")
    chapter = PdfReader(root / "output" / "chapters" / "skin-metastasis.pdf")
    first = next(i for i, p in enumerate(read_pages(root / "output" / "guide.pdf"))
                 if p.lines and p.lines[0].text == "Skin metastasis and ulcerating wounds")
    count = len(chapter.pages)
    assert chapter.page_labels == book.page_labels[first : first + count]
    folios = [p.folio for p in read_pages(root / "output" / "chapters" / "skin-metastasis.pdf")]
    assert folios == chapter.page_labels


def test_handouts_are_tagged_and_pass_the_pdfua_checker(
    handouts: tuple[Path, HandoutReport],
) -> None:
    _, report = handouts
    assert not [f for f in report.findings if f.check == "accessibility"]
    for handout in report.handouts[:2]:
        assert pdfua_findings(handout.path) == [], handout.path.name
