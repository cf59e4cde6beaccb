"""Cutting the shipped fonts (fonts.cut_font): what is kept is what was there."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import uharfbuzz as hb
from fontTools.ttLib import TTFont

from pipeline.fonts import ALWAYS, cut_font, shipped_faces

FONTS = Path(__file__).resolve().parent.parent / "styles" / "fonts"
# Kerned pairs, ligature candidates, fractions, quotes, dashes, digits.
SAMPLE = ("AVATAR Tuesday, “WAVE” — office flow ffi 1/2 ½ 10:45 T.Y. L’Wo "
          "Your care team can help. 2nd line–3rd, café")


def shaped(font: bytes, text: str, features: dict[str, bool] | None = None
           ) -> list[tuple[int, int, int, int]]:
    """Each glyph's advance and offset as HarfBuzz shapes `text` (glyph ids aside)."""
    face = hb.Face(font)
    buffer = hb.Buffer()
    buffer.add_str(text)
    buffer.guess_segment_properties()
    hb.shape(hb.Font(face), buffer, features or {})
    return [(p.x_advance, p.y_advance, p.x_offset, p.y_offset) for p in buffer.glyph_positions]


@pytest.mark.parametrize("face", shipped_faces(FONTS), ids=lambda face: face.path.stem)
def test_a_face_cut_to_some_characters_shapes_them_as_the_whole_face(face: object) -> None:
    whole = face.path.read_bytes()  # type: ignore[attr-defined]
    text = SAMPLE.replace("é", "")  # é is not kept: it must not be in the cut
    cut = cut_font(whole, unicodes=map(ord, set(text) | set(ALWAYS)))
    assert len(cut) < len(whole) / 2
    for features in (None, {"frac": True}, {"kern": False}):
        assert shaped(cut, text, features) == shaped(whole, text, features)
    font = TTFont(io.BytesIO(cut))
    assert ord("é") not in font.getBestCmap()
    assert ord("A") in font.getBestCmap()
    assert not {"fpgm", "prep", "cvt ", "DSIG"} & set(font.keys())  # hinting and signature go
    assert {"GSUB", "GPOS", "GDEF"} <= set(font.keys())
    whole_names = {(n.nameID, n.toUnicode()) for n in TTFont(io.BytesIO(whole))["name"].names}
    assert {(n.nameID, n.toUnicode()) for n in font["name"].names} == whole_names


def test_a_face_cut_to_glyph_ids_keeps_each_glyph_at_its_id() -> None:
    whole = (FONTS / "AtkinsonHyperlegible-Regular.ttf").read_bytes()
    original = TTFont(io.BytesIO(whole))
    count = original["maxp"].numGlyphs
    order = original.getGlyphOrder()
    kept = [5, 36, 200]
    # 200 (å) is drawn from two others: they are kept with it, at their ids.
    parts = [order.index(name) for name in original["glyf"][order[200]].getComponentNames(
        original["glyf"])]
    cut = TTFont(io.BytesIO(cut_font(whole, glyphs=[*kept, count + 7], layout=False,
                                     same_glyph_ids=True)))  # an id past the end: ignored
    assert cut["maxp"].numGlyphs == max(kept + parts) + 1 < count
    assert not {"GSUB", "GPOS", "GDEF"} & set(cut.keys())
    cut_order = cut.getGlyphOrder()
    for gid in [0, *kept, *parts]:
        before = original["glyf"][order[gid]]
        after = cut["glyf"][cut_order[gid]]
        assert after.numberOfContours == before.numberOfContours != 0
        assert cut["hmtx"][cut_order[gid]][0] == original["hmtx"][order[gid]][0]
    assert cut["glyf"][cut_order[100]].numberOfContours == 0  # not asked for: emptied


def test_a_font_harfbuzz_cannot_read_is_refused() -> None:
    with pytest.raises(ValueError, match="could not cut"):
        cut_font(b"not a font at all", unicodes=[65])


def test_a_shipped_face_that_is_not_a_font_stops_the_build_naming_it(
        tmp_path: Path) -> None:
    from pipeline.fonts import trimmed_faces
    from pipeline.model import BookletError

    fonts = tmp_path / "fonts"
    fonts.mkdir()
    for face in shipped_faces(FONTS):
        (fonts / face.path.name).write_bytes(face.path.read_bytes())
    (fonts / "AtkinsonHyperlegible-Italic.ttf").write_text("<html>a download error</html>")
    with pytest.raises(BookletError) as caught:
        trimmed_faces(fonts, "Hello", tmp_path / "cache")
    assert "AtkinsonHyperlegible-Italic.ttf" in str(caught.value)
    assert "could not cut" in str(caught.value)


def test_fonts_cut_by_another_cutter_go_to_another_folder(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import pipeline.fonts as fonts

    faces = shipped_faces(FONTS)
    first = fonts.trimmed_folder(FONTS, "Hello", tmp_path)
    whole = fonts.every_character(faces, tmp_path)
    assert fonts.trimmed_folder(FONTS, "Hello", tmp_path) == first
    monkeypatch.setattr(fonts, "cutter_version", lambda: "uharfbuzz 99.0")
    characters, folder = fonts.trimmed_folder(FONTS, "Hello", tmp_path)
    assert characters == first[0] and folder != first[1]
    assert fonts.every_character(faces, tmp_path)[1] != whole[1]
