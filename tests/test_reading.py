"""Reading comfort: colour contrast (WCAG AA), type size, line spacing, alignment."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import pytest
import tinycss2
from conftest import REPO, Built

from pipeline.config import load_config
from pipeline.model import PT_PER_PX

STYLES = REPO / "styles"
WHITE = "#ffffff"


def luminance(colour: str) -> float:
    value = colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula() -> None:
    assert contrast("#000", "#fff") == pytest.approx(21.0)
    assert contrast("#767676", "#fff") == pytest.approx(4.54, abs=0.01)  # the AA threshold


def rules(css: str) -> list[tuple[str, dict[str, str]]]:
    """(selector, {property: value}) with var(--x) resolved from :root."""
    parsed = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
    found = []
    for rule in parsed:
        if rule.type != "qualified-rule":
            continue
        selector = tinycss2.serialize(rule.prelude).strip()
        declarations = tinycss2.parse_declaration_list(
            rule.content, skip_comments=True, skip_whitespace=True)
        found.append((selector, {
            d.lower_name: tinycss2.serialize(d.value).strip()
            for d in declarations if d.type == "declaration"
        }))
    variables = {k: v for selector, props in found if selector == ":root"
                 for k, v in props.items()}
    resolve = lambda value: re.sub(  # noqa: E731
        r"var\((--[\w-]+)\)", lambda m: variables[m.group(1)], value)
    return [(s, {k: resolve(v) for k, v in props.items()}) for s, props in found]


def colour_in(value: str) -> str | None:
    match = re.search(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b|\bwhite\b", value)
    if match is None:
        return None
    return WHITE if match.group(0) == "white" else match.group(0)


def test_text_and_call_out_colours_meet_wcag_aa() -> None:
    css = (STYLES / "book.css").read_text(encoding="utf-8")
    styled = rules(css)
    texts = {c for _, props in styled if (c := colour_in(props.get("color", "")))}
    backgrounds = {
        selector: c for selector, props in styled
        for key in ("background", "background-color")
        if (c := colour_in(props.get(key, "")))
    }
    light = {WHITE, *(c for c in backgrounds.values() if luminance(c) > 0.5)}
    assert len(texts) >= 2 and len(light) >= 3  # ink, accent; white and the call-out tints
    for text in texts:
        if luminance(text) > 0.5:
            continue  # light text: checked against its own dark background below
        for background in light:
            ratio = contrast(text, background)
            assert ratio >= 4.5, f"{text} on {background}: {ratio:.2f}:1 (AA needs 4.5)"
    for selector, props in styled:
        background = backgrounds.get(selector)
        text = colour_in(props.get("color", ""))
        if background and luminance(background) <= 0.5 and text:
            assert contrast(text, background) >= 4.5, selector
    # Lines and borders that carry meaning (table rules, call-out bars): 3:1 (WCAG 1.4.11).
    borders = {c for _, props in styled for key, value in props.items()
               if key.startswith("border") and (c := colour_in(value))}
    for border in borders:
        assert contrast(border, WHITE) >= 3, border


def test_no_text_is_justified() -> None:
    for path in [*STYLES.glob("*.css"), *(STYLES / "templates").glob("*.html")]:
        assert "justify" not in path.read_text(encoding="utf-8"), path.name
    css = (STYLES / "book.css").read_text(encoding="utf-8")
    assert any(selector.startswith("p,") and props.get("text-align") == "left"
               for selector, props in rules(css))


def test_reading_editions_are_big_enough_and_well_spaced() -> None:
    config = load_config(REPO)
    default = config.edition_named().layout
    assert default.base_size_pt >= 11.5 and default.line_height >= 1.4
    large = config.edition_named("large-print").layout
    assert large.base_size_pt >= 16 and large.line_height >= 1.4


def test_printed_body_size_and_line_spacing(starter: Built) -> None:
    sizes: Counter[float] = Counter()
    pages = [[line for line in page.body if line.text.strip()] for page in starter.pages[6:12]]
    for body in pages:
        for line in body:
            sizes[round(line.size * PT_PER_PX, 1)] += len(line.text)
    body_size = sizes.most_common(1)[0][0]
    assert body_size >= 11.5
    gaps = [
        abs(above.y - below.y)
        for body in pages
        for above, below in itertools.pairwise(body)
        if round(above.size * PT_PER_PX, 1) == round(below.size * PT_PER_PX, 1) == body_size
    ]
    assert len(gaps) > 20
    # Lines inside a paragraph are the most common gap (a descender on a line's first
    # letter moves its measured bottom by a couple of points, hence the rounding).
    line_gap = Counter(round(gap * 2) / 2 for gap in gaps).most_common(1)[0][0]
    assert line_gap / body_size >= 1.4
    fonts = {line.font for page in starter.pages for line in page.lines}
    assert all(font.startswith("Atkinson-Hyperlegible") for font in fonts), fonts
