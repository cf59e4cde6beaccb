"""A deterministic synthetic book: realistic mixed content, any size.

    write_book(folder, chapters=20, paragraphs=9)  # about 120 Letter pages

Headings, paragraphs, nested lists, tables, footnotes, call-outs, a
definition list and a few images (generated PNGs), in a project folder with
the repository's styles. Used by the benchmark and, small, by the tests.
The text is filler built from a fixed word list with a fixed seed: the same
arguments always give the same book.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORDS = (
    "care", "team", "treatment", "skin", "wound", "nurse", "doctor", "appointment", "question",
    "answer", "body", "dressing", "change", "week", "month", "study", "small", "people",
    "help", "time", "daily", "gentle", "clean", "dry", "talk", "family", "friend", "support",
    "clinic", "option", "choice", "plan", "pain", "sleep", "rest", "walk", "eat", "water",
    "light", "warm", "cool", "soft", "check", "note", "list", "ask", "listen", "read", "write",
)


def _sentence(rng: random.Random, low: int = 8, high: int = 18) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    return " ".join(words).capitalize() + "."


def _paragraph(rng: random.Random, sentences: int = 5) -> str:
    return " ".join(_sentence(rng) for _ in range(sentences))


def write_book(folder: Path, chapters: int = 20, paragraphs: int = 9, seed: int = 7) -> Path:
    """Write a project with `chapters` chapters into `folder`; return the folder."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "styles", folder / "styles", dirs_exist_ok=True)
    (folder / "chapters").mkdir(exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    for n in range(3):
        image = Image.new("RGB", (900, 450), "white")
        draw = ImageDraw.Draw(image)
        draw.rectangle([10, 10, 890, 440], outline=(0, 90, 82), width=8)
        draw.ellipse([300 + 60 * n, 80, 600 + 60 * n, 380], fill=(0, 90, 82))
        image.save(folder / "images" / f"figure-{n}.png", optimize=True)
    names = []
    for number in range(1, chapters + 1):
        name = f"{number:02d}-topic-{number}.md"
        names.append(name)
        body = [
            "---",
            f'title: "Topic {number}: {rng.choice(WORDS).capitalize()} and '
            f'{rng.choice(WORDS)}"',
            "last_reviewed: 2026-11-01",
            f"summary: {_sentence(rng)}",
            "sources:",
            '  - "A synthetic source for the benchmark"',
            "---",
            "",
        ]
        for section in range(1, 4):
            body += [f"## Section {section} of topic {number}", ""]
            for p in range(paragraphs // 3):
                text = _paragraph(rng)
                if p == 0 and section == 1:
                    text += f"[^n{number}]"
                body += [text, ""]
            body += ["- " + _sentence(rng, 4, 9), "    - " + _sentence(rng, 3, 7),
                     "    - " + _sentence(rng, 3, 7), "- " + _sentence(rng, 4, 9), ""]
            if section == 2:
                body += ["| What | When |", "|---|---|"]
                body += [f"| {_sentence(rng, 2, 4)} | {_sentence(rng, 2, 5)} |"
                         for _ in range(4)]
                body += [""]
            if section == 3 and number % 7 == 0:
                body += [f"![A diagram for topic {number}](../images/figure-{number % 3}.png)",
                         ""]
        body += ["!!! talk", "    " + _sentence(rng), ""]
        body += ["Term one", ":   " + _sentence(rng), "", "Term two", ":   " + _sentence(rng), ""]
        body += [f"[^n{number}]: {_sentence(rng, 5, 9)}", ""]
        (folder / "chapters" / name).write_text("\n".join(body), encoding="utf-8")
    order = ",\n  ".join(f'"{name}"' for name in names)
    (folder / "booklet.toml").write_text(
        f"""[book]
title = "Synthetic Benchmark Guide"
author = "The benchmark"
edition = "Benchmark edition"
language = "en-US"
last_reviewed = 2026-11-01

[copies]
text = "Ask for a copy."
url = "https://example.org/copies"

[check]
pages_max = 2000
max_grade = 30
max_sentence_words = 60

[chapters]
order = [
  {order},
]
""",
        encoding="utf-8",
    )
    return folder
