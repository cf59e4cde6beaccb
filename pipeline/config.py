"""booklet.toml -> Config.

Reads the project's configuration with tomllib and checks it against a
schema: an unknown key, a wrong type or a missing required key is a
BookletError that names the key and the line it is on.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from pipeline.model import (
    BookletError,
    CheckSettings,
    Config,
    Edition,
    Layout,
    PageSize,
    Problem,
)

CONFIG_NAME = "booklet.toml"

PAGE_SIZES = {
    "letter": PageSize("letter", 215.9, 279.4),
    "a4": PageSize("a4", 210.0, 297.0),
    "a5": PageSize("a5", 148.0, 210.0),
    "half-letter": PageSize("half-letter", 139.7, 215.9),
}


@dataclass(frozen=True)
class Key:
    kind: type | tuple[type, ...]
    required: bool = True
    what: str = ""  # how to describe the type in a message


NUMBER = (int, float)

SCHEMA: dict[str, dict[str, Key]] = {
    "book": {
        "title": Key(str),
        "subtitle": Key(str, required=False),
        "author": Key(str),
        "edition": Key(str),
        "language": Key(str),
        "last_reviewed": Key(date, what="a date like 2026-11-01"),
        "subject": Key(str, required=False),
        "keywords": Key(list, required=False, what="a list of strings"),
    },
    "copies": {
        "text": Key(str),
        "url": Key(str),
    },
    "layout": {
        "page_size": Key(str, required=False, what=f"one of {', '.join(PAGE_SIZES)}"),
        "base_size_pt": Key(NUMBER, required=False, what="a number"),
        "line_height": Key(NUMBER, required=False, what="a number"),
        "margin_top_mm": Key(NUMBER, required=False, what="a number"),
        "margin_bottom_mm": Key(NUMBER, required=False, what="a number"),
        "margin_inside_mm": Key(NUMBER, required=False, what="a number"),
        "margin_outside_mm": Key(NUMBER, required=False, what="a number"),
    },
    "chapters": {
        "order": Key(list, what="a list of file names under chapters/"),
    },
    "check": {
        "pages_min": Key(int, required=False, what="a whole number"),
        "pages_max": Key(int, required=False, what="a whole number"),
        "max_grade": Key(NUMBER, required=False, what="a number"),
        "max_sentence_words": Key(int, required=False, what="a whole number"),
        "review_max_months": Key(int, required=False, what="a whole number"),
        "min_image_ppi": Key(int, required=False, what="a whole number"),
        "handout_max_pages": Key(int, required=False, what="a whole number"),
    },
}
REQUIRED_TABLES = ("book", "copies", "chapters")
SLUG_MM = 9.0  # room beyond a print shop's bleed for the crop marks
LAYOUT_NUMBERS = (
    "margin_top_mm", "margin_bottom_mm", "margin_inside_mm", "margin_outside_mm",
    "base_size_pt", "line_height",
)
EDITION_KEYS: dict[str, Key] = {
    "page_size": Key(str, required=False, what=f"one of {', '.join(PAGE_SIZES)}"),
    "paper": Key(str, required=False, what=f"one of {', '.join(PAGE_SIZES)}"),
    **{name: Key(NUMBER, required=False, what="a number") for name in LAYOUT_NUMBERS},
    "bleed_mm": Key(NUMBER, required=False, what="a number"),
    "crop_marks": Key(bool, required=False),
    "impose": Key(bool, required=False),
    "signature_sheets": Key(int, required=False, what="a whole number"),
    "signatures": Key(str, required=False, what="'stacked' or 'nested'"),
    "creep_mm": Key(NUMBER, required=False, what="a number"),
    "fold_line": Key(bool, required=False),
    "order_marks": Key(bool, required=False),
}
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")


def load_config(root: Path) -> Config:
    """Read root/booklet.toml and return a checked Config."""
    path = root / CONFIG_NAME
    rel = CONFIG_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BookletError.at(
            rel, None, "no booklet.toml here", f"run booklet from the project folder {root}"
        ) from None
    except UnicodeDecodeError as err:
        raise BookletError.at(rel, None, f"not UTF-8 text ({err.reason})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        line = _decode_error_line(str(err))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err))
        raise BookletError.at(
            rel, line, f"malformed TOML: {message}", "check quotes, brackets and '='"
        ) from None

    lines = text.splitlines()
    problems = _check_schema(data, lines, rel)
    if problems:
        raise BookletError(problems)

    book = data["book"]
    layout_data = data.get("layout", {})
    size_name = layout_data.get("page_size", "letter").lower()
    if size_name not in PAGE_SIZES:
        problems.append(
            Problem(
                rel,
                key_line(lines, "layout", "page_size"),
                f"unknown page_size '{size_name}'",
                f"use one of: {', '.join(PAGE_SIZES)}",
            )
        )
    if not LANGUAGE_RE.match(book["language"]):
        problems.append(
            Problem(
                rel,
                key_line(lines, "book", "language"),
                f"language '{book['language']}' is not a language tag",
                "write it like en-US or en-GB",
            )
        )
    keywords = book.get("keywords", [])
    if not all(isinstance(k, str) for k in keywords):
        problems.append(
            Problem(rel, key_line(lines, "book", "keywords"), "keywords must be strings")
        )
    for name, value in [*layout_data.items(), *data.get("check", {}).items()]:
        if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
            problems.append(
                Problem(rel, key_line(lines, "layout", name), f"'{name}' must be above 0")
            )
    order = data["chapters"]["order"]
    if not order:
        problems.append(
            Problem(
                rel,
                key_line(lines, "chapters", "order"),
                "no chapters in [chapters] order",
                'list the chapter files, e.g. order = ["01-about.md"]',
            )
        )
    chapter_lines = []
    for name in order:
        if not isinstance(name, str):
            problems.append(
                Problem(rel, key_line(lines, "chapters", "order"), f"{name!r} is not a file name")
            )
            continue
        chapter_lines.append(_value_line(lines, "chapters", name))
    if problems:
        raise BookletError(problems)

    defaults = Layout(PAGE_SIZES["letter"])
    layout = Layout(
        page=PAGE_SIZES[size_name],
        **{name: float(layout_data.get(name, getattr(defaults, name))) for name in LAYOUT_NUMBERS},
    )
    problems += _check_layout(layout, lines, rel, "layout")
    editions, default_edition = _editions(data.get("editions"), layout, lines, rel, problems)
    if problems:
        raise BookletError(problems)
    check_data = data.get("check", {})
    checks = CheckSettings(**{k: check_data[k] for k in SCHEMA["check"] if k in check_data})
    if checks.pages_min > checks.pages_max:
        raise BookletError.at(
            rel, key_line(lines, "check", "pages_min"), "pages_min is above pages_max"
        )
    return Config(
        editions=editions,
        default_edition=default_edition,
        checks=checks,
        root=root,
        path=path,
        title=book["title"],
        subtitle=book.get("subtitle", ""),
        author=book["author"],
        edition=book["edition"],
        language=book["language"],
        last_reviewed=book["last_reviewed"],
        subject=book.get("subject", ""),
        keywords=tuple(keywords),
        copies_text=data["copies"]["text"],
        copies_url=data["copies"]["url"],
        chapter_files=tuple(order),
        layout=layout,
        chapter_lines=tuple(chapter_lines),
    )


def _check_layout(layout: Layout, lines: list[str], rel: str, table: str) -> list[Problem]:
    problems = []
    page = layout.page
    if not 6 <= layout.base_size_pt <= 36:
        problems.append(Problem(rel, key_line(lines, table, "base_size_pt"),
                                f"base_size_pt {layout.base_size_pt:g} is outside 6-36 pt"))
    if layout.margin_inside_mm + layout.margin_outside_mm >= page.width_mm * 0.8:
        problems.append(Problem(rel, _table_line(lines, table),
                                f"the {page.name} page ({page.width_mm:g} mm wide) is too narrow "
                                "for its inside and outside margins", "make the margins smaller"))
    if layout.margin_top_mm + layout.margin_bottom_mm >= page.height_mm * 0.8:
        problems.append(Problem(rel, _table_line(lines, table),
                                f"the {page.name} page ({page.height_mm:g} mm high) is too short "
                                "for its top and bottom margins", "make the margins smaller"))
    return problems


def _editions(
    data: object, base: Layout, lines: list[str], rel: str, problems: list[Problem]
) -> tuple[tuple[Edition, ...], str]:
    """[editions] default = NAME, and one [editions.NAME] table per edition."""
    if data is None:
        return (Edition("default", base),), "default"
    if not isinstance(data, dict):
        problems.append(Problem(rel, key_line(lines, None, "editions"),
                                "'editions' must be tables like [editions.letter]"))
        return (Edition("default", base),), "default"
    default = data.get("default")
    editions = []
    for name, options in data.items():
        if name == "default":
            continue
        table = f"editions.{name}"
        if not isinstance(options, dict):
            problems.append(Problem(rel, key_line(lines, "editions", name),
                                    f"'{name}' must be a table [editions.{name}]"))
            continue
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
            problems.append(Problem(rel, _table_line(lines, table),
                                    f"edition name '{name}' must be lowercase letters, digits "
                                    "and dashes (it names a file)"))
        found = []
        for key, value in options.items():
            if key not in EDITION_KEYS:
                found.append(Problem(rel, key_line(lines, table, key),
                                     f"unknown option '{key}' in [{table}]",
                                     did_you_mean(key, EDITION_KEYS)
                                     or f"options: {', '.join(EDITION_KEYS)}"))
            elif not _is_kind(value, EDITION_KEYS[key].kind):
                what = EDITION_KEYS[key].what or _kind_name(EDITION_KEYS[key].kind)
                found.append(Problem(rel, key_line(lines, table, key),
                                     f"'{table}.{key}' must be {what}, not {_describe(value)}"))
        for key in ("page_size", "paper"):
            if key in options and isinstance(options[key], str) and (
                options[key].lower() not in PAGE_SIZES
            ):
                found.append(Problem(rel, key_line(lines, table, key),
                                     f"unknown {key} '{options[key]}' in [{table}]",
                                     f"use one of: {', '.join(PAGE_SIZES)}"))
        if found:
            problems.extend(found)
            continue
        impose = bool(options.get("impose", False))
        bleed = float(options.get("bleed_mm", 0))
        if impose and bleed:
            problems.append(Problem(rel, key_line(lines, table, "bleed_mm"),
                                    f"[{table}] is imposed for home printing and cannot have a "
                                    "bleed", "remove bleed_mm, or set impose = false"))
        if bleed < 0:
            problems.append(Problem(rel, key_line(lines, table, "bleed_mm"),
                                    "bleed_mm cannot be negative"))
        if not -2 <= float(options.get("creep_mm", 0)) <= 2:
            problems.append(Problem(rel, key_line(lines, table, "creep_mm"),
                                    "creep_mm is per sheet: keep it between -2 and 2 mm",
                                    "positive moves inner pages toward the fold, negative "
                                    "away from it"))
        layout = replace(
            base,
            page=PAGE_SIZES[str(options.get("page_size", base.page.name)).lower()],
            bleed_mm=bleed,
            crop_marks=bool(options.get("crop_marks", False)),
            slug_mm=SLUG_MM if bleed else 0.0,
            **{k: float(options[k]) for k in LAYOUT_NUMBERS if k in options},
        )
        problems.extend(_check_layout(layout, lines, rel, table))
        paper = None
        if impose:
            paper_name = str(options.get("paper", "")).lower()
            if not paper_name:
                problems.append(Problem(rel, _table_line(lines, table),
                                        f"[{table}] is imposed but names no paper",
                                        'add paper = "letter" or paper = "a4"'))
                continue
            paper = PAGE_SIZES[paper_name]
            # Two pages side by side on the sheet turned landscape.
            if (2 * layout.page.width_mm > paper.height_mm + 0.5
                    or layout.page.height_mm > paper.width_mm + 0.5):
                problems.append(Problem(rel, key_line(lines, table, "paper"),
                                        f"two {layout.page.name} pages do not fit side by side "
                                        f"on {paper.name} paper"))
        signatures = str(options.get("signatures", "stacked"))
        if signatures not in ("stacked", "nested"):
            problems.append(Problem(rel, key_line(lines, table, "signatures"),
                                    f"signatures must be 'stacked' or 'nested', not "
                                    f"'{signatures}'"))
        sheets = int(options.get("signature_sheets", 12))
        if sheets < 1:
            problems.append(Problem(rel, key_line(lines, table, "signature_sheets"),
                                    "signature_sheets must be at least 1"))
        editions.append(Edition(
            name=name,
            layout=layout,
            impose=impose,
            paper=paper,
            signature_sheets=max(sheets, 1),
            nested=signatures == "nested",
            creep_mm=float(options.get("creep_mm", 0)),
            fold_line=bool(options.get("fold_line", True)),
            order_marks=bool(options.get("order_marks", True)),
        ))
    names = [e.name for e in editions]
    if not editions:
        return (Edition("default", base),), "default"
    if default is None:
        default = names[0]
    if default not in names:
        problems.append(Problem(rel, key_line(lines, "editions", "default"),
                                f"default edition '{default}' is not one of: {', '.join(names)}"))
    return tuple(editions), str(default)


def _check_schema(data: dict[str, Any], lines: list[str], rel: str) -> list[Problem]:
    problems = []
    for table, value in data.items():
        if table == "editions":
            continue  # checked by _editions
        if table not in SCHEMA:
            problems.append(
                Problem(
                    rel,
                    _table_line(lines, table) or key_line(lines, None, table),
                    f"unknown table or key '{table}'",
                    did_you_mean(table, SCHEMA) or f"known tables: {', '.join(SCHEMA)}",
                )
            )
        elif not isinstance(value, dict):
            problems.append(
                Problem(rel, key_line(lines, None, table), f"'{table}' must be a [{table}] table")
            )
    for table in REQUIRED_TABLES:
        if table not in data:
            problems.append(Problem(rel, None, f"missing table [{table}]"))
    for table, keys in SCHEMA.items():
        values = data.get(table)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if key not in keys:
                problems.append(
                    Problem(
                        rel,
                        key_line(lines, table, key),
                        f"unknown key '{table}.{key}'",
                        did_you_mean(key, keys) or f"known keys: {', '.join(keys)}",
                    )
                )
                continue
            spec = keys[key]
            if not _is_kind(value, spec.kind):
                what = spec.what or _kind_name(spec.kind)
                problems.append(
                    Problem(
                        rel,
                        key_line(lines, table, key),
                        f"'{table}.{key}' must be {what}, not {_describe(value)}",
                    )
                )
        for key, spec in keys.items():
            if spec.required and key not in values:
                problems.append(
                    Problem(
                        rel,
                        _table_line(lines, table),
                        f"missing key '{table}.{key}'",
                        f"add a line: {key} = ...",
                    )
                )
    return problems


def _is_kind(value: Any, kind: type | tuple[type, ...]) -> bool:
    if isinstance(value, bool):  # bool is an int to Python, never to an author
        return kind is bool
    if kind is date:
        return isinstance(value, date) and not hasattr(value, "hour")
    return isinstance(value, kind)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "text in quotes", list: "a list", dict: "a table", bool: "true or false"}
    if isinstance(kind, tuple):
        return "a number"
    return names.get(kind, kind.__name__)


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"text '{value}'"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, date):
        return f"date {value.isoformat()}"
    return f"{type(value).__name__} {value!r}"


def did_you_mean(name: str, known: dict[str, Any]) -> str | None:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    return f"did you mean '{close[0]}'?" if close else None


def _decode_error_line(message: str) -> int | None:
    match = re.search(r"at line (\d+)", message)
    return int(match.group(1)) if match else None


_TABLE_RE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(#.*)?$")


def _table_line(lines: list[str], table: str) -> int | None:
    for number, line in enumerate(lines, 1):
        match = _TABLE_RE.match(line)
        if match and match.group(1) == table:
            return number
    return None


def key_line(lines: list[str], table: str | None, key: str) -> int | None:
    """The line of `key = ...` inside [table] (or before any table when table is None)."""
    current: str | None = None
    key_re = re.compile(rf"^\s*(\"{re.escape(key)}\"|{re.escape(key)})\s*=")
    for number, line in enumerate(lines, 1):
        match = _TABLE_RE.match(line)
        if match:
            current = match.group(1)
            continue
        if current == table and key_re.match(line):
            return number
    return _table_line(lines, table) if table else None


def _value_line(lines: list[str], table: str, value: str) -> int:
    """The line inside [table] where the string `value` is written."""
    current: str | None = None
    for number, line in enumerate(lines, 1):
        match = _TABLE_RE.match(line)
        if match:
            current = match.group(1)
            continue
        if current == table and (f'"{value}"' in line or f"'{value}'" in line):
            return number
    return _table_line(lines, table) or 0
