"""chapters/*.md -> [Chapter].

Reads each chapter named in booklet.toml's order, splits off its YAML front
matter (safe loading only), checks the keys and types, and returns Chapter
records with the Markdown body and the line it starts on.

A chapter is a file inside the project (a symlink out of it is refused),
at most LIMITS.chapter_bytes long, valid UTF-8 without control characters.
Its front matter is plain YAML: no tags that construct objects (safe
loading), no aliases (a "billion laughs" bomb is made of them), and at most
LIMITS.front_matter_bytes long.
"""

from __future__ import annotations

import difflib
import os
import re
import reprlib
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from pipeline.model import (
    LIMITS,
    BookletError,
    Chapter,
    Config,
    Problem,
    Source,
    megabytes,
    shown_path,
)

FRONT_MATTER_KEYS = {
    "title": "text",
    "last_reviewed": "a date like 2026-11-01",
    "summary": "text",
    "sources": "a list of sources",
    "handout": "true or false",
    "collect_sources": "true or false",
    "kind": "one of: content, about, worksheet, glossary, sources",
}
KINDS = ("content", "about", "worksheet", "glossary", "sources")
REQUIRED_KEYS = ("title", "last_reviewed")
SLUG_PREFIX_RE = re.compile(r"^\d+[-_ ]*")
# C0 control characters other than tab and line breaks, and DEL: never text.
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CONTROL_NAMES = {"\x00": "NUL", "\x0b": "vertical tab", "\x0c": "form feed",
                 "\x1b": "escape", "\x7f": "delete"}


def slug_of(path: Path) -> str:
    """'03-skin-metastasis.md' -> 'skin-metastasis'."""
    stem = SLUG_PREFIX_RE.sub("", path.stem) or path.stem
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")


def load_chapters(config: Config) -> list[Chapter]:
    """Load every chapter in the configured order; report all problems at once."""
    problems: list[Problem] = []
    chapters: list[Chapter] = []
    seen: dict[str, Path] = {}
    config_rel = shown_path(config.path, config.root)
    for index, name in enumerate(config.chapter_files):
        line = config.chapter_lines[index] if index < len(config.chapter_lines) else None
        written = Path(os.path.normpath(config.chapters_dir.resolve() / name))
        if not written.is_relative_to(config.root.resolve()):
            problems.append(
                Problem(
                    config_rel,
                    line,
                    f"chapter '{name}' is outside the project",
                    "chapters must live under chapters/",
                )
            )
            continue
        path = written  # a symlink out of the project is refused when it is read
        if not path.is_file():
            hint = "create it, or remove it from [chapters] order"
            candidates = sorted(p.name for p in config.chapters_dir.glob("*.md"))
            close = difflib.get_close_matches(name, candidates, n=1)
            if close:
                hint = f"did you mean '{close[0]}'?"
            problems.append(
                Problem(config_rel, line, f"chapter file 'chapters/{name}' not found", hint)
            )
            continue
        slug = slug_of(path)
        if slug in seen:
            problems.append(
                Problem(
                    config_rel,
                    line,
                    f"duplicate chapter slug '{slug}': chapters/{name} and "
                    f"{shown_path(seen[slug], config.root)}",
                    "rename one of the files",
                )
            )
            continue
        seen[slug] = path
        try:
            chapters.append(read_chapter(path, slug, config.root))
        except BookletError as err:
            problems.extend(err.problems)
    if problems:
        raise BookletError(problems)
    return chapters


def read_source(path: Path, root: Path) -> bytes:
    """A chapter file's bytes, if it is a file inside the project and within the size limit."""
    rel = shown_path(path, root)
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise BookletError.at(rel, None, f"is a link to '{resolved}', outside the project",
                              "copy the file into chapters/ instead")
    if not resolved.is_file():
        raise BookletError.at(rel, None, "is not a file")
    size = resolved.stat().st_size
    if size > LIMITS.chapter_bytes:
        raise BookletError.at(
            rel, None,
            f"chapter is {megabytes(size)}, over the {megabytes(LIMITS.chapter_bytes)} limit "
            "for one chapter", "split it into several chapters")
    try:
        return resolved.read_bytes()
    except OSError as err:
        raise BookletError.at(rel, None, f"cannot read: {err.strerror}") from None


def decode_source(raw: bytes, rel: str) -> str:
    """UTF-8 text without control characters, line breaks made '\\n'."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise BookletError.at(
            rel, line, "not valid UTF-8 text", "save the file as UTF-8"
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    control = CONTROL_RE.search(text)
    if control:
        char = control.group()
        line = text.count("\n", 0, control.start()) + 1
        column = control.start() - text.rfind("\n", 0, control.start())
        name = CONTROL_NAMES.get(char, "control character")
        raise BookletError.at(
            rel, line, f"{name} U+{ord(char):04X} in the text (column {column})",
            "remove it; 'booklet import' cleans pasted text")
    long_word = re.search(rf"\S{{{LIMITS.word_chars + 1},}}", text)
    if long_word:
        line = text.count("\n", 0, long_word.start()) + 1
        raise BookletError.at(
            rel, line, f"a word of {len(long_word.group()):,} characters with no space, over "
            f"the limit of {LIMITS.word_chars:,}", "add spaces; link a long address instead "
            "of printing it")
    return text


def read_chapter(path: Path, slug: str, root: Path) -> Chapter:
    rel = shown_path(path, root)
    text = decode_source(read_source(path, root), rel)
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise BookletError.at(
            rel, 1, "no front matter", "start the file with '---', title: ..., '---'"
        )
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() in ("---", "..."))
    except StopIteration:
        raise BookletError.at(
            rel, 1, "front matter is not closed", "add a line '---' after the front matter"
        ) from None
    yaml_text = "\n".join(lines[1:end])
    size = len(yaml_text.encode("utf-8"))
    if size > LIMITS.front_matter_bytes:
        raise BookletError.at(
            rel, 1, f"front matter is {megabytes(size)}, over the "
            f"{megabytes(LIMITS.front_matter_bytes)} limit", "move the text into the chapter")
    data, key_lines = _parse_front_matter(yaml_text, rel)
    problems = _check_front_matter(data, key_lines, rel)
    if problems:
        raise BookletError(problems)
    return Chapter(
        slug=slug,
        path=path,
        title=data["title"].strip(),
        last_reviewed=data["last_reviewed"],
        summary=data.get("summary"),
        sources=_sources(data.get("sources", []), key_lines.get("sources", 1), rel),
        collect_sources=bool(data.get("collect_sources", False)),
        handout=bool(data.get("handout", False)),
        kind=str(data.get("kind", "sources" if data.get("collect_sources") else "content")),
        body="\n".join(lines[end + 1 :]),
        body_line=end + 2,
    )


# PyYAML's safe loader, with libyaml's parser where PyYAML has it (ten times faster).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse_front_matter(yaml_text: str, rel: str) -> tuple[dict[str, Any], dict[str, int]]:
    """Safe-load the YAML, and note the file line of each top-level key."""
    try:
        for event in yaml.parse(yaml_text, Loader=_LOADER):
            if isinstance(event, yaml.AliasEvent):
                # Aliases repeat a value by reference: a few lines of them make a
                # value of billions of items ("billion laughs"). Front matter needs none.
                line = event.start_mark.line + 2 if event.start_mark else 1
                raise BookletError.at(
                    rel, line, f"front matter uses a YAML alias '*{event.anchor}'",
                    "write the value out in full")
        node = yaml.compose(yaml_text, Loader=_LOADER)
        data = yaml.load(yaml_text, Loader=_LOADER)  # (a safe loader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 2 if mark else 1
        raise BookletError.at(
            rel, line, f"malformed front matter: {err.problem or err}", "check the YAML syntax"
        ) from None
    except yaml.YAMLError as err:
        raise BookletError.at(rel, 1, f"malformed front matter: {err}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode | type(None)):
        raise BookletError.at(rel, 2, "front matter must be 'key: value' lines")
    key_lines = {}
    if node is not None:
        for key_node, _ in node.value:
            key_lines[str(key_node.value)] = key_node.start_mark.line + 2
    return data, key_lines


def _check_front_matter(data: dict[str, Any], key_lines: dict[str, int], rel: str) -> list[Problem]:
    problems = []
    for key, value in data.items():
        line = key_lines.get(str(key), 2)
        if key not in FRONT_MATTER_KEYS:
            close = difflib.get_close_matches(str(key), list(FRONT_MATTER_KEYS), n=1)
            problems.append(
                Problem(
                    rel,
                    line,
                    f"unknown front matter key '{key}'",
                    f"did you mean '{close[0]}'?" if close else
                    f"known keys: {', '.join(FRONT_MATTER_KEYS)}",
                )
            )
            continue
        ok = {
            "title": isinstance(value, str) and value.strip() != "",
            "summary": isinstance(value, str),
            "last_reviewed": isinstance(value, date),
            "sources": isinstance(value, list),
            "handout": isinstance(value, bool),
            "collect_sources": isinstance(value, bool),
            "kind": value in KINDS,
        }[key]
        if not ok:
            hint = "write it as YYYY-MM-DD, without quotes" if key == "last_reviewed" else None
            problems.append(
                Problem(rel, line, f"'{key}' must be {FRONT_MATTER_KEYS[key]}, not {_short(value)}",
                        hint)
            )
    for key in REQUIRED_KEYS:
        if key not in data:
            problems.append(
                Problem(rel, 1, f"front matter has no '{key}'", f"add a line '{key}: ...'")
            )
    return problems


def _sources(items: list[Any], line: int, rel: str) -> tuple[Source, ...]:
    sources = []
    for item in items:
        if isinstance(item, str) and item.strip():
            sources.append(Source(item.strip()))
        elif isinstance(item, dict) and isinstance(item.get("text"), str) and set(item) <= {
            "text",
            "url",
        }:
            url = item.get("url")
            if url is not None and not isinstance(url, str):
                raise BookletError.at(rel, line, f"source url must be text, not {_short(url)}")
            sources.append(Source(item["text"].strip(), url))
        else:
            raise BookletError.at(
                rel,
                line,
                f"a source must be text, or 'text:' with an optional 'url:', not {_short(item)}",
            )
    return tuple(sources)



def _short(value: Any) -> str:
    """A value for a message: its repr, cut short."""
    shorten = reprlib.Repr()
    shorten.maxstring = shorten.maxother = 60
    return shorten.repr(value)
