"""chapters/*.md -> [Chapter].

Reads each chapter named in booklet.toml's order, splits off its YAML front
matter (safe loading only), checks the keys and types, and returns Chapter
records with the Markdown body and the line it starts on.
"""

from __future__ import annotations

import difflib
import re
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from pipeline.model import BookletError, Chapter, Config, Problem, Source, shown_path

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
        path = (config.chapters_dir / name).resolve()
        if not path.is_relative_to(config.root.resolve()):
            problems.append(
                Problem(
                    config_rel,
                    line,
                    f"chapter '{name}' is outside the project",
                    "chapters must live under chapters/",
                )
            )
            continue
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


def read_chapter(path: Path, slug: str, root: Path) -> Chapter:
    rel = shown_path(path, root)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise BookletError.at(
            rel, line, "not valid UTF-8 text", "save the file as UTF-8"
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
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


def _parse_front_matter(yaml_text: str, rel: str) -> tuple[dict[str, Any], dict[str, int]]:
    """Safe-load the YAML, and note the file line of each top-level key."""
    try:
        node = yaml.compose(yaml_text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(yaml_text)
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
                Problem(rel, line, f"'{key}' must be {FRONT_MATTER_KEYS[key]}, not {value!r}", hint)
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
                raise BookletError.at(rel, line, f"source url must be text, not {url!r}")
            sources.append(Source(item["text"].strip(), url))
        else:
            raise BookletError.at(
                rel,
                line,
                f"a source must be text, or 'text:' with an optional 'url:', not {item!r}",
            )
    return tuple(sources)

