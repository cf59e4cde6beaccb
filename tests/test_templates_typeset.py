"""Templates escape what they are given; the typesetter reads only project files."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO

from pipeline.config import load_config
from pipeline.fonts import shipped_faces
from pipeline.model import PROJECT_URL, BookletError, Part
from pipeline.templates import Templates, css_string
from pipeline.typeset import typeset


def test_css_string_cannot_break_out() -> None:
    assert css_string('It\'s "x"') == '"It\'s \\"x\\""'
    assert "</style>" not in css_string("</style><script>")
    assert css_string("a\\b\nc") == '"a\\\\b\\a c"'


def test_text_from_config_is_escaped(tmp_path: Path) -> None:
    config = load_config(REPO)
    templates = Templates(config, shipped_faces(config.styles_dir / "fonts"))
    html = templates.back().html
    assert config.copies_url in html
    evil = templates.environment.from_string("{{ x }}").render(x="<b>hi</b>")
    assert evil == "&lt;b&gt;hi&lt;/b&gt;"


def test_a_part_records_links_for_later_and_its_anchors() -> None:
    html = (
        '<html><body><h1 id="here">Here</h1>'
        '<p><a href="#elsewhere">away</a> <a href="#here">back</a></p></body></html>'
    )
    part = typeset(Part("t", html, REPO / "booklet.toml", PROJECT_URL), REPO)
    assert part.page_count == 1
    assert [a.name for a in part.anchors] == ["here"]
    assert sorted(link.target for link in part.pending_links) == ["elsewhere", "here"]
    assert part.pdf.startswith(b"%PDF")


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "https://example.org/x.png", f"{PROJECT_URL}../../etc/passwd",
     f"{PROJECT_URL}images/missing.png"],
)
def test_fetching_outside_the_project_is_refused(url: str) -> None:
    html = f'<html><body><img src="{url}" alt="x"></body></html>'
    with pytest.raises(BookletError) as caught:
        typeset(Part("t", html, REPO / "chapters" / "01-about.md", PROJECT_URL), REPO)
    problem = caught.value.problems[0]
    assert problem.path == "chapters/01-about.md"
    assert "refused to load" in problem.message


def _font_part(tmp_path: Path, text: str, font: Path) -> Part:
    html = (f'<html><head><style>@font-face {{ font-family: "T"; '
            f'src: url("{PROJECT_URL}{font.name}"); }} body {{ font-family: "T"; }}</style>'
            f"</head><body><p>{text}</p></body></html>")
    return Part("t", html, tmp_path / "x.md", PROJECT_URL)


def test_a_kept_font_configuration_changes_no_byte(tmp_path: Path) -> None:
    import pipeline.typeset as typesetter

    regular = next(f for f in shipped_faces(REPO / "styles" / "fonts") if f.weight == 400
                   and f.style == "normal")
    font = tmp_path / "face.ttf"
    font.write_bytes(regular.path.read_bytes())
    first = typeset(_font_part(tmp_path, "One text, then another.", font), tmp_path)
    kept = dict(typesetter._FONT_CONFIGURATIONS)
    typeset(_font_part(tmp_path, "Something else entirely.", font), tmp_path)
    assert dict(typesetter._FONT_CONFIGURATIONS) == kept  # the same one, used again
    again = typeset(_font_part(tmp_path, "One text, then another.", font), tmp_path)
    assert again.pdf == first.pdf
    # Another font behind the same address is another configuration.
    other = next(f for f in shipped_faces(REPO / "styles" / "fonts") if f.weight == 700)
    font.write_bytes(other.path.read_bytes())
    bold = typeset(_font_part(tmp_path, "One text, then another.", font), tmp_path)
    assert set(typesetter._FONT_CONFIGURATIONS) - set(kept)
    assert bold.pdf != first.pdf


def _styled_part(tmp_path: Path, text: str) -> Part:
    html = (f'<html lang="en"><head><style>p {{ margin: 0 }}</style>'
            f'<link rel="stylesheet" href="{PROJECT_URL}book.css"></head>'
            f"<body><p>{text}</p></body></html>")
    return Part("t", html, tmp_path / "x.md", PROJECT_URL)


def test_a_kept_stylesheet_changes_no_byte_and_a_changed_one_is_read_again(
        tmp_path: Path) -> None:
    import pipeline.typeset as typesetter

    sheet = tmp_path / "book.css"
    sheet.write_text("p { font-size: 30pt; colour: red; }", encoding="utf-8")  # a typo: warned
    typesetter._FONT_CONFIGURATIONS.clear()
    first = typeset(_styled_part(tmp_path, "Same words."), tmp_path)
    (kept,) = typesetter._FONT_CONFIGURATIONS.values()
    parsed = dict(kept.sheets)
    assert len(parsed) == 2  # the <style> block and the linked sheet
    again = typeset(_styled_part(tmp_path, "Same words."), tmp_path)
    assert dict(kept.sheets) == parsed  # parsed once, used twice
    assert again.pdf == first.pdf
    assert again.warnings == first.warnings and "colour" in " ".join(first.warnings)
    # The same bytes as WeasyPrint reading the sheets from the document itself.
    from weasyprint import HTML

    html = HTML(string=_styled_part(tmp_path, "Same words.").html, base_url=PROJECT_URL,
                url_fetcher=typesetter.ProjectFetcher(tmp_path))
    with typesetter._fixed_font_dates():
        plain = html.render().write_pdf(**{**typesetter.PDF_OPTIONS, "full_fonts": True,
                                           "pdf_tags": True})
    assert plain == first.pdf
    # An edited stylesheet (a long-running preview) is parsed again.
    sheet.write_text("p { font-size: 8pt; }", encoding="utf-8")
    edited = typeset(_styled_part(tmp_path, "Same words."), tmp_path)
    assert edited.pdf != first.pdf
    assert not any("colour" in warning for warning in edited.warnings)


def test_hyphenation_patterns_are_read_once_then_come_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pyphen

    from pipeline.typeset import _hyphenation_patterns

    path = pyphen.LANGUAGES[pyphen.language_fallback("en-US")]
    html = '<!DOCTYPE html>\n<html lang="en-US"><head></head><body></body></html>'
    words = ["hyphenation", "metastatic", "oncologist", "radiotherapy", "appointment"]
    reference = pyphen.HyphDict(path)
    reads = []
    read = pyphen.HyphDict.__init__

    def counted(self: pyphen.HyphDict, *args: object) -> None:
        reads.append(args)
        read(self, *args)

    monkeypatch.setattr(pyphen.HyphDict, "__init__", counted)
    monkeypatch.setitem(pyphen.hdcache, path, None)  # (put back as it was afterwards)
    del pyphen.hdcache[path]

    _hyphenation_patterns(html, tmp_path)  # read from the text, and kept
    assert len(reads) == 1
    entries = list((tmp_path / "output" / ".cache" / "hyphenation").iterdir())
    assert len(entries) == 1

    del pyphen.hdcache[path]
    _hyphenation_patterns(html, tmp_path)  # from the cache: not read again
    assert len(reads) == 1
    kept = pyphen.hdcache[path]
    assert [kept.positions(w) for w in words] == [reference.positions(w) for w in words]
    assert pyphen.Pyphen(lang="en_US").hd is kept  # what WeasyPrint will be given

    entries[0].write_bytes(entries[0].read_bytes()[:-50])  # damaged: read again
    del pyphen.hdcache[path]
    _hyphenation_patterns(html, tmp_path)
    assert len(reads) == 2
    assert [pyphen.hdcache[path].positions(w) for w in words] == [
        reference.positions(w) for w in words]
