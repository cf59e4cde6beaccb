"""The fonts the project ships -> font files trimmed to the book's characters.

Every part of the book is typeset separately and embeds its fonts whole
(WeasyPrint's `full_fonts`), so that the merge can keep one copy of each
font instead of one per chapter. To keep that one copy small, the shipped
fonts are first trimmed to the characters the book uses (HarfBuzz's
subsetter, `cut_font`: a millisecond a face, where fontTools' took a tenth
of a second). The trimmed files are cached by their character set and are
inside the project, so typesetting never reads a font from the machine.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline.files import write_atomically
from pipeline.model import BookletError

FAMILY = "Atkinson Hyperlegible"


@dataclass(frozen=True)
class FontFace:
    family: str
    weight: int
    style: str  # "normal" or "italic"
    path: Path


SHIPPED = (
    ("AtkinsonHyperlegible-Regular.ttf", 400, "normal"),
    ("AtkinsonHyperlegible-Bold.ttf", 700, "normal"),
    ("AtkinsonHyperlegible-Italic.ttf", 400, "italic"),
    ("AtkinsonHyperlegible-BoldItalic.ttf", 700, "italic"),
)

# Characters the templates and the typesetter may add on their own: digits and
# roman numerals for folios, typographic quotes and dashes, list bullets,
# hyphens for hyphenation, and no-break spaces.
ALWAYS = (
    string.printable.strip()
    + " \u00a0\u00ad\u2010\u2011\u2013\u2014\u2018\u2019\u201c\u201d\u2026\u2022\u00b7"
    + "\u00a9\u00ae\u2122\u00b0\u00d7\u2212"
)
VERSION = "3"  # bump when the trimming options change (the cutter names its own version)


def shipped_faces(fonts_dir: Path) -> tuple[FontFace, ...]:
    return _present(tuple(
        FontFace(FAMILY, weight, style, fonts_dir / name) for name, weight, style in SHIPPED
    ))


FALLBACK = (
    ("Noto Sans", "NotoSans-Regular.ttf", 400),
    ("Noto Sans", "NotoSans-Bold.ttf", 700),
    ("Noto Sans Arabic", "NotoSansArabic-Regular.ttf", 400),
    ("Noto Sans Arabic", "NotoSansArabic-Bold.ttf", 700),
)
FALLBACK_FAMILIES = ("Noto Sans", "Noto Sans Arabic")


def fallback_faces(fonts_dir: Path) -> tuple[FontFace, ...]:
    """Fonts for names in other scripts (cover letters, labels): Greek, Cyrillic, Arabic..."""
    return _present(tuple(
        FontFace(family, weight, "normal", fonts_dir / "fallback" / name)
        for family, name, weight in FALLBACK
    ))


def _present(faces: tuple[FontFace, ...]) -> tuple[FontFace, ...]:
    """The faces, if every file is there: the book's page counts depend on them."""
    for face in faces:
        if not face.path.is_file():
            raise BookletError.at(
                face.path, None, f"the font file {face.path.name} is missing",
                "put the fonts the project ships back in that folder: they are in "
                "the repository")
    return faces


def uncovered(text: str, faces: tuple[FontFace, ...]) -> str:
    """The characters of `text` that none of `faces` has (spaces and controls aside)."""
    covered = _covered(tuple(face.path for face in faces))
    missing = {c for c in set(text)
               if not c.isspace() and ord(c) >= 0x20 and ord(c) not in covered}
    # Joiners and marks that shaping handles without a glyph of their own.
    missing -= {"\u200c", "\u200d", "\u200e", "\u200f"}
    return "".join(sorted(missing))


@lru_cache(maxsize=8)
def _covered(paths: tuple[Path, ...]) -> frozenset[int]:
    return frozenset().union(*(_cmap(path) for path in paths))


@lru_cache(maxsize=32)
def _cmap(path: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont  # (fontTools is loaded where a font is read or cut)

    with TTFont(path, lazy=True) as font:
        return frozenset(font.getBestCmap())


def trimmed_faces(fonts_dir: Path, text: str, cache_dir: Path) -> tuple[FontFace, ...]:
    """Trim each shipped face to the characters in `text` (plus ALWAYS), cached."""
    characters, folder = trimmed_folder(fonts_dir, text, cache_dir)
    return trim_faces(shipped_faces(fonts_dir), characters, folder)


def trimmed_folder(fonts_dir: Path, text: str, cache_dir: Path) -> tuple[str, Path]:
    """The characters the shipped faces are trimmed to for `text`, and where they go."""
    characters = "".join(sorted(set(text) | set(ALWAYS)))
    digest = hashlib.sha256()
    digest.update(f"{VERSION} {cutter_version()}".encode())
    digest.update(characters.encode("utf-8", "surrogatepass"))
    for face in shipped_faces(fonts_dir):
        digest.update(face.path.read_bytes())
    return characters, cache_dir / "fonts" / digest.hexdigest()[:16]


def every_character(faces: tuple[FontFace, ...], cache_dir: Path) -> tuple[str, Path]:
    """Every character these faces have, and where they go trimmed to it (cached).

    Trimmed to all they have, faces lose only their hinting (as when they are
    cut to fewer): a document can embed them whole, and they say nothing of
    what it prints.
    """
    characters = "".join(chr(c) for c in sorted(set().union(*(_cmap(f.path) for f in faces))))
    digest = hashlib.sha256()
    digest.update(f"{VERSION} {cutter_version()}".encode())
    for face in faces:
        digest.update(face.path.read_bytes())
    return characters, cache_dir / "fonts" / f"whole-{digest.hexdigest()[:16]}"


def trim_faces(faces: tuple[FontFace, ...], text: str, folder: Path) -> tuple[FontFace, ...]:
    """Each face trimmed to the characters of `text` (plus ALWAYS), written into `folder`."""
    return tuple(trim_face(face, text, folder) for face in faces)


def trim_face(face: FontFace, text: str, folder: Path) -> FontFace:
    """One face trimmed to the characters of `text` (plus ALWAYS), written into `folder`."""
    target = folder / face.path.name
    if not target.is_file():
        _trim(face.path, "".join(sorted(set(text) | set(ALWAYS))), target)
    return FontFace(face.family, face.weight, face.style, target)


def _trim(source: Path, characters: str, target: Path) -> None:
    try:
        # Every layout feature kept (kerning, ligatures): the same line breaks.
        cut = cut_font(source.read_bytes(), unicodes=map(ord, characters))
    except ValueError as err:
        raise BookletError.at(source, None, str(err),
                              "put back the font file the project ships") from None
    write_atomically(target, cut)


def cut_font(font: bytes, unicodes: Iterable[int] = (), glyphs: Iterable[int] = (),
             layout: bool = True, same_glyph_ids: bool = False) -> bytes:
    """`font` (TrueType or OpenType) cut down to these characters and glyph ids.

    With HarfBuzz's subsetter (uharfbuzz, whose wheel carries its own
    HarfBuzz: the same bytes on every machine). What a substitution can
    reach is kept too (a ligature, an alternate). Hinting is dropped, as
    WeasyPrint drops it when it subsets; every name is kept; the .notdef
    glyph keeps its outline. `layout` keeps every OpenType layout feature
    (without, GSUB, GPOS and GDEF go: a PDF needs none of them);
    `same_glyph_ids` keeps each glyph at its id, so that a PDF's content
    streams, which show glyphs by id, stay valid.
    """
    import uharfbuzz as hb  # (loaded where a font is cut)

    wanted = hb.SubsetInput()
    wanted.unicode_set.update(unicodes)
    wanted.glyph_set.update(glyphs)
    _every(wanted.sets(hb.SubsetInputSets.NAME_ID))
    dropped = wanted.sets(hb.SubsetInputSets.DROP_TABLE_TAG)
    dropped.update(_tags("DSIG", "FFTM"))
    if layout:
        _every(wanted.sets(hb.SubsetInputSets.LAYOUT_FEATURE_TAG))
    else:
        dropped.update(_tags("GSUB", "GPOS", "GDEF"))
    flags = hb.SubsetFlags.NO_HINTING | hb.SubsetFlags.NOTDEF_OUTLINE
    if same_glyph_ids:
        flags |= hb.SubsetFlags.RETAIN_GIDS
    wanted.flags = flags
    face = hb.Face(font)
    try:
        cut = hb.subset(face, wanted) if face.glyph_count else None
    except RuntimeError:  # (uharfbuzz: "Subsetting failed")
        cut = None
    if cut is None:
        raise ValueError("HarfBuzz could not cut this font (is it a TrueType or OpenType file?)")
    return bytes(cut.blob.data)


def _every(chosen: Any) -> None:
    """Make one of a SubsetInput's sets hold everything (not only its defaults)."""
    chosen.clear()
    chosen.invert()


def _tags(*tags: str) -> list[int]:
    return [int.from_bytes(tag.encode("ascii"), "big") for tag in tags]


@lru_cache(maxsize=1)
def cutter_version() -> str:
    """What cuts fonts, for cache keys: a new subsetter may cut them differently.

    (The version of uharfbuzz, whose wheel carries its HarfBuzz, read from its
    installed metadata: a build whose fonts are all cut already does not load it.)
    """
    from importlib import metadata

    return f"uharfbuzz {metadata.version('uharfbuzz')}"
