"""Pasted text (a text, Markdown or HTML file) -> a clean chapter under chapters/.

- decodes UTF-8 (with or without BOM), UTF-16 (with BOM), or a legacy code
  page (guessed with charset-normalizer);
- turns HTML into Markdown (markdownify);
- repairs mojibake (see mojibake.py), keeping ®, ™ and curly quotes as they are;
- turns bullet lines ("•", "·", "-", "*", and "o" under a bullet, as word
  processors paste them) and numbered lines into Markdown lists;
- unwraps hard-wrapped paragraphs;
- writes a front matter skeleton: the title from the first heading (or the
  file name); `last_reviewed` is left for the author, and lint reports it
  until it is there. A "From:" whose link was lost is kept, never dropped or
  invented; lint flags it.

It never overwrites a chapter unless asked to (--force).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline import mojibake
from pipeline.files import write_atomically
from pipeline.model import LIMITS, BookletError, megabytes
from pipeline.sources import CONTROL_RE, slug_of

BULLET_RE = re.compile(r"^(?P<indent>[ \t]*)(?P<mark>[•·▪◦‣*-]|o(?=\s))\s+(?P<text>\S.*)$")
NUMBER_RE = re.compile(r"^(?P<indent>[ \t]*)(?P<number>\d{1,3})[.)]\s+(?P<text>\S.*)$")
HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LEGACY = ["cp1252", "cp874", "cp1251", "mac_roman", "cp1250", "iso8859_15"]


@dataclass(frozen=True)
class ImportResult:
    source: Path
    target: Path
    root: Path
    encoding: str
    repaired: int
    list_items: int
    unwrapped: int
    lost_sources: int

    def summary(self) -> str:
        target = self.target.relative_to(self.root)
        parts = [
            f"imported {self.source.name} ({self.encoding}) to {target}",
            f"repaired {self.repaired} garbled place{'s' if self.repaired != 1 else ''}",
            f"made {self.list_items} list item{'s' if self.list_items != 1 else ''}",
            f"unwrapped {self.unwrapped} paragraph{'s' if self.unwrapped != 1 else ''}",
        ]
        text = ", ".join(parts)
        if self.lost_sources:
            text += (
                f"; kept {self.lost_sources} 'From:' with no source after it (lint flags it: "
                "describe the source)"
            )
        return text + (
            f". Next: add 'last_reviewed:' to its front matter and list {target.name} "
            "in booklet.toml."
        )


def import_file(source: Path, root: Path, to: Path | None = None, force: bool = False
                ) -> ImportResult:
    try:
        size = source.stat().st_size
        if size > LIMITS.import_bytes:
            raise BookletError.at(
                str(source), None, f"is {megabytes(size)}, over the "
                f"{megabytes(LIMITS.import_bytes)} limit for one import", "split it first")
        raw = source.read_bytes()
    except OSError as err:
        raise BookletError.at(str(source), None, f"cannot read: {err.strerror}") from None
    text, encoding = decode(raw)
    # Word's line breaks arrive as vertical tabs; other control characters are never text.
    text = CONTROL_RE.sub("", text.replace("\x0b", "\n").replace("\x0c", "\n"))
    if source.suffix.lower() in (".html", ".htm") or re.match(
        r"\s*(<!doctype html|<html)", text, re.I
    ):
        text = html_to_markdown(text)
    text, repaired = mojibake.repair(text.replace("\r\n", "\n").replace("\r", "\n"))
    title, body = split_title(text, source)
    body, items = make_lists(body)
    body, unwrapped = unwrap(body)
    lost = len(re.findall(r"(?m)\bFrom:\s*$", body))
    chapter = front_matter(title) + "\n" + body.strip() + "\n"
    if len(chapter.encode("utf-8")) > LIMITS.chapter_bytes:
        raise BookletError.at(
            str(source), None, f"makes a chapter of {megabytes(len(chapter.encode()))}, over the "
            f"{megabytes(LIMITS.chapter_bytes)} limit for one chapter",
            "split it into several files and import each")

    target = _target(to, root, title)
    if target.exists() and not force:
        raise BookletError.at(
            str(target.relative_to(root)), None, "already exists", "pass --force to replace it"
        )
    write_atomically(target, chapter.encode("utf-8"))
    return ImportResult(source, target, root, encoding, repaired, items, unwrapped, lost)


def decode(raw: bytes) -> tuple[str, str]:
    """Bytes -> text and the name of the encoding it was in."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace"), "UTF-8 with BOM"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "UTF-16"
    try:
        return raw.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw, cp_isolation=LEGACY).best()
    guess = (str(best), best.encoding) if best is not None else ("", "")
    # Short English pastes fool the detector: prefer Windows-1252 whenever it reads
    # at least as much typographic punctuation as the guess does.
    try:
        western = raw.decode("cp1252")
    except UnicodeDecodeError:
        western = None
    if western is not None and _typographic(western) >= _typographic(guess[0]):
        return western, "cp1252"
    if best is None:
        return raw.decode("cp1252", errors="replace"), "cp1252 (guessed)"
    return guess


def _typographic(text: str) -> int:
    return sum(text.count(c) for c in "’‘“”•–—…®™©°")


def html_to_markdown(text: str) -> str:
    from bs4 import BeautifulSoup
    from markdownify import MarkdownConverter

    soup = BeautifulSoup(text, "html.parser")
    for element in soup(["script", "style", "iframe", "object", "embed", "noscript"]):
        element.decompose()  # their content is not text for a reader
    return str(MarkdownConverter(heading_style="ATX", bullets="-").convert_soup(soup))


def split_title(text: str, source: Path) -> tuple[str, str]:
    """The first heading becomes the title; other '#' headings become '##'."""
    # Setext headings ("Title" over "=====" or "-----") become ATX ones first.
    text = re.sub(r"(?m)^(\S[^\n]*)\n=+[ \t]*$", r"# \1", text)
    text = re.sub(r"(?m)^(\S[^\n]*)\n-{3,}[ \t]*$", r"## \1", text)
    lines = text.split("\n")
    title = None
    out = []
    for line in lines:
        match = HEADING_RE.match(line)
        if match and title is None:
            title = match.group(2).strip()
            continue
        if match and len(match.group(1)) == 1:
            line = "#" + line
        out.append(line)
    if title is None:
        title = re.sub(r"[-_]+", " ", re.sub(r"^\d+[-_ ]*", "", source.stem)).strip().capitalize()
    return title or "Untitled", "\n".join(out)


def make_lists(text: str) -> tuple[str, int]:
    """Bullet and numbered lines -> Markdown lists; 'o' (or deeper indent) under a bullet nests."""
    out: list[str] = []
    items = 0
    in_list = False
    last_kind = ""
    for line in text.split("\n"):
        bullet = BULLET_RE.match(line)
        number = NUMBER_RE.match(line)
        if bullet and bullet.group("mark") == "o" and not in_list:
            bullet = None  # a sentence that starts with "o", not a sub-bullet
        if bullet or number:
            match = bullet or number
            assert match is not None
            indent = match.group("indent").replace("\t", "    ")
            nested = in_list and (
                len(indent) >= 2 or (bullet is not None and bullet.group("mark") in ("o", "◦"))
            )
            kind = "bullet" if bullet else "number"
            if out and out[-1].strip() and (not in_list or (kind != last_kind and not nested)):
                out.append("")  # Markdown needs a blank line before a (new kind of) list
            last_kind = kind
            marker = "-" if bullet else f"{match.group('number')}."
            out.append(("    " if nested else "") + f"{marker} {match.group('text').strip()}")
            items += 1
            in_list = True
            continue
        if in_list and line.strip():
            wrapped = line.startswith((" ", "\t")) or line.strip()[0].islower() or not re.search(
                r"[.!?:;)]$", out[-1].strip()
            )
            if wrapped:  # the item goes on (a word processor or mail program wrapped it)
                out[-1] += " " + line.strip()
                continue
            out.append("")  # the list ended: a paragraph follows
        in_list = False
        out.append(line)
    return "\n".join(out), items


def unwrap(text: str) -> tuple[str, int]:
    """Join hard-wrapped lines of a paragraph; lists, headings, tables stay as they are."""
    out: list[str] = []
    joined = 0
    paragraph = False
    for line in text.split("\n"):
        stripped = line.strip()
        structural = (
            not stripped
            or HEADING_RE.match(stripped)
            or stripped.startswith(("|", ">", "```", "!!!", "[^", "<"))
            or re.match(r"^(\s*)([-*+]|\d+\.)\s", line)
            or line.startswith("    ")
            or re.search(r"\bFrom:\s*$", stripped) is not None
        )
        if paragraph and not structural and out and not out[-1].endswith("  "):
            out[-1] = out[-1].rstrip() + " " + stripped
            joined += 1
            continue
        out.append(line.rstrip())
        paragraph = bool(stripped) and not structural
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)), joined


def front_matter(title: str) -> str:
    return (
        "---\n"
        f"title: {json.dumps(title, ensure_ascii=False)}\n"  # a JSON string is a YAML string
        "# last_reviewed: YYYY-MM-DD  <- the date you checked this chapter against its sources\n"
        "# summary: one or two sentences printed under the title\n"
        "# sources:\n"
        '#   - "Describe each source: what kind of study, how many people"\n'
        "---\n"
    )


def _target(to: Path | None, root: Path, title: str) -> Path:
    chapters = root / "chapters"
    if to is not None:
        target = (to if to.is_absolute() else Path.cwd() / to).resolve()
        if not target.is_relative_to(chapters.resolve()) or target.suffix != ".md":
            raise BookletError.at(str(to), None, "the chapter must be a .md file under chapters/")
        return target
    numbers = [
        int(m.group(1)) for p in chapters.glob("*.md") if (m := re.match(r"(\d+)", p.name))
    ]
    slug = slug_of(Path(re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower() + ".md"))
    return chapters / f"{max(numbers, default=0) + 1:02d}-{slug or 'chapter'}.md"
