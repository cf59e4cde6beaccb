"""Reading what is printed where on a PDF page, for the end-to-end tests."""

from __future__ import annotations

from dataclasses import dataclass

from pypdf import PageObject


@dataclass(frozen=True)
class Run:
    text: str
    x: float  # points from the left edge
    y: float  # points from the bottom edge
    font: str


def runs(page: PageObject) -> list[Run]:
    """Every piece of text on the page with the position it is printed at."""
    found: list[Run] = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if not text.strip():
            return
        x = cm[0] * tm[4] + cm[2] * tm[5] + cm[4]
        y = cm[1] * tm[4] + cm[3] * tm[5] + cm[5]
        name = str(font.get("/BaseFont")) if hasattr(font, "get") else ""
        found.append(Run(text.strip(), x, y, name))

    page.extract_text(visitor_text=visit)
    return found


def band(page: PageObject, low: float, high: float) -> str:
    """The text printed between heights `low` and `high` (points from the bottom)."""
    return " ".join(r.text for r in runs(page) if low <= r.y <= high)


def folio(page: PageObject) -> str:
    """The printed folio: text in the bottom margin (below 22 mm)."""
    return band(page, 0, 62).strip()


def running_head(page: PageObject) -> str:
    """Text in the top margin (above the 20 mm line)."""
    height = float(page.mediabox.height)
    return band(page, height - 57, height).strip()


def body(page: PageObject) -> str:
    height = float(page.mediabox.height)
    return band(page, 62, height - 57)
