"""An image file's bytes -> what is wrong with it (or None), before anything decodes it.

Images come from outside (downloaded, exported, pasted), and a decoder is
the easiest place to hurt a program: so each image is checked here first,
and WeasyPrint only ever sees images that passed (convert.py checks the
chapters' images, with their lines; the fetcher in typeset.py checks every
file it serves, whoever asks).

- raster images: PNG, JPEG, GIF or WebP only (never a format that runs a
  helper program, like EPS); the header gives the size, which must be at
  most LIMITS.image_pixels, before the pixels are decoded; then the whole
  image is decoded once, so a truncated or damaged file is caught here;
- SVG: parsed without DTDs or entities (defusedxml: no "billion laughs", no
  external entities), width and height at most LIMITS.svg_side_px, and no
  reference to anything but its own parts (no files, no web addresses).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from PIL import Image, ImageFile

from pipeline.model import LIMITS, megabytes

RASTER_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
SVG_UNITS_PX = {"": 1.0, "px": 1.0, "pt": 96 / 72, "pc": 16.0, "mm": 96 / 25.4,
                "cm": 96 / 2.54, "in": 96.0, "em": 16.0, "ex": 8.0}
LENGTH_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-z]*|%)\s*$")
EXTERNAL_URL_RE = re.compile(r"url\(\s*['\"]?\s*(?!#)|@import", re.I)
HREFS = ("href", "{http://www.w3.org/1999/xlink}href")


def image_problem(data: bytes, name: str) -> str | None:
    """What makes this image unsafe or unusable, or None; `name` picks SVG or raster."""
    if len(data) > LIMITS.image_bytes:
        return (f"is {megabytes(len(data))}, over the {megabytes(LIMITS.image_bytes)} "
                "limit for an image")
    if name.lower().endswith(".svg"):
        return svg_problem(data)
    return raster_problem(data)


def raster_problem(data: bytes) -> str | None:
    limit = LIMITS.image_pixels
    try:
        with _checking(), Image.open(BytesIO(data), formats=RASTER_FORMATS) as image:
            width, height = image.size  # from the header: nothing is decoded yet
            if width * height > limit:
                return (f"is {width} x {height} pixels, over the limit of "
                        f"{limit / 1e6:g} million pixels")
            image.load()
    except Image.UnidentifiedImageError:
        return f"is not a {', '.join(RASTER_FORMATS[:-1])} or WebP image"
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        return f"is damaged ({err})"
    return None


@contextmanager
def _checking() -> Iterator[None]:
    """Pillow as a checker: truncated images are errors (WeasyPrint tells Pillow to load
    them quietly), and the pixel limit is ours (checked before decoding), not Pillow's."""
    truncated, pixels = ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS
    ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS = False, None
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS = truncated, pixels


def svg_problem(data: bytes) -> str | None:
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        return "declares a DTD or entities (save it as plain SVG)"
    except ParseError as err:
        return f"is not well-formed SVG ({err})"
    if root.tag.rsplit("}", 1)[-1] != "svg":
        return "is not an SVG image"
    for side in ("width", "height"):
        size = _length_px(root.get(side, ""))
        if size is not None and size > LIMITS.svg_side_px:
            return (f"is {size:,.0f} px {'wide' if side == 'width' else 'high'}, over the "
                    f"{LIMITS.svg_side_px:,} px limit")
    return _external_reference(root)


def _length_px(value: str) -> float | None:
    match = LENGTH_RE.match(value)
    if not match or match.group(2) == "%":
        return None
    return float(match.group(1)) * SVG_UNITS_PX.get(match.group(2), 1.0)


def _external_reference(root: Element) -> str | None:
    for element in root.iter():
        for name in HREFS:
            href = element.get(name)
            if href is not None and not href.strip().startswith("#"):
                return (f"refers to '{href[:80]}' (an SVG image may refer only to its own "
                        "parts: embed the picture in it)")
        # Styles and presentation attributes (fill="url(...)") may name files too.
        texts = [*element.attrib.values()]
        if element.tag.rsplit("}", 1)[-1] == "style" and element.text:
            texts.append(element.text)
        if any(EXTERNAL_URL_RE.search(text) for text in texts):
            return "has a style that loads another file (url() or @import)"
    return None


def intrinsic_size(data: bytes, name: str) -> tuple[float, float]:
    """Width and height in CSS pixels of an image that passed image_problem.

    An SVG is measured by its width and height (in any absolute unit), else by
    its viewBox, else as a browser would: 300 x 150.
    """
    if name.lower().endswith(".svg"):
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        box = [float(v) for v in re.split(r"[\s,]+", root.get("viewBox", "").strip()) if v]
        width, height = (_length_px(root.get(side, "")) for side in ("width", "height"))
        if (width is None or height is None) and len(box) == 4:
            width, height = box[2], box[3]
        return width or 300.0, height or 150.0
    with Image.open(BytesIO(data)) as image:
        return float(image.width), float(image.height)
