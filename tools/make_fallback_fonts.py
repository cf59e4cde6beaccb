"""Make the fallback fonts in styles/fonts/fallback/ (run once; the results are committed).

The guide is set in Atkinson Hyperlegible, which covers Latin. Names on cover
letters and address labels can be in any script, so the letters fall back to
Noto Sans (Latin, Vietnamese, Greek, Cyrillic) and Noto Sans Arabic (SIL Open
Font License). This takes the variable fonts from the fontpkg-noto-sans and
fontpkg-noto-sans-arabic wheels, pins them to static Regular and Bold
instances, and keeps only those scripts, so the files stay small.

    pip download --no-deps fontpkg-noto-sans==2.15 fontpkg-noto-sans-arabic==2.12
    unzip each wheel; python tools/make_fallback_fonts.py NOTO_SANS.ttf NOTO_ARABIC.ttf
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.varLib import instancer

TARGET = Path(__file__).resolve().parents[1] / "styles" / "fonts" / "fallback"
LATIN_GREEK_CYRILLIC = [
    *range(0x20, 0x250),  # Basic Latin to Latin Extended-B
    *range(0x250, 0x2B0), *range(0x2B0, 0x370),  # IPA, spacing modifiers
    *range(0x300, 0x370),  # combining marks
    *range(0x370, 0x400), *range(0x400, 0x530),  # Greek, Cyrillic (+ supplement)
    *range(0x1E00, 0x1F00),  # Latin Extended Additional (Vietnamese)
    *range(0x1F00, 0x2000),  # Greek Extended
    *range(0x2000, 0x2070), *range(0x20A0, 0x20C0),  # punctuation, currency
]
ARABIC = [*range(0x20, 0x80), *range(0x600, 0x700), *range(0x750, 0x780),
          *range(0xFB50, 0xFE00), *range(0xFE70, 0xFF00)]


def make(source: Path, name: str, unicodes: list[int]) -> None:
    for weight, style in ((400, "Regular"), (700, "Bold")):
        font = TTFont(source)
        static = instancer.instantiateVariableFont(font, {"wght": weight, "wdth": 100})
        options = subset.Options()
        options.layout_features = ["*"]
        options.name_IDs = ["*"]
        options.hinting = False
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=unicodes)
        subsetter.subset(static)
        static.save(TARGET / f"{name}-{style}.ttf")


if __name__ == "__main__":
    TARGET.mkdir(parents=True, exist_ok=True)
    make(Path(sys.argv[1]), "NotoSans", LATIN_GREEK_CYRILLIC)
    make(Path(sys.argv[2]), "NotoSansArabic", ARABIC)
