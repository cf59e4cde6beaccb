"""Markdown sources -> Findings, without typesetting (fast enough for an editor hook).

Checks, each with the name a report files it under:

- front-matter   required keys, types, ISO dates, unknown keys (did-you-mean)
- encoding       a file that is not UTF-8
- mojibake       UTF-8 read through a legacy code page (see mojibake.py), with the repair
- image, alt-text, link, heading-level
                 missing images, images without alt text, links to headings or
                 chapters that do not exist, headings that skip a level
- duplicate-heading  two headings with the same id in one chapter
- sources, care-team  a content chapter without sources or without a
                 "talk to your care team" call-out
- lost-source    a "From:" with nothing after it (a source whose link was lost)
- footnote       a footnote cited but never defined, or defined but never cited
- raw-html       raw HTML in Markdown, naming the tag; and what the sanitiser
                 removed (tags and attributes off the allow-list, see convert.py)
- readability, long-sentence  grade level above the configured one; sentences
                 over the configured number of words

A finding is silenced for one place by a comment on its line or the line
above: `<!-- booklet-ignore: check-name -->` (several names: comma-separated).
Chapter-wide findings (sources, care-team, readability) sit on the first
line after the front matter, so the comment goes there.
"""

from __future__ import annotations

import html
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from pipeline import mojibake
from pipeline.cache import hyphenation_patterns
from pipeline.convert import FENCE_RE, HEADING_RE, check_references, convert
from pipeline.model import (
    BookletError,
    Chapter,
    Config,
    ConvertedChapter,
    Finding,
    shown_path,
)
from pipeline.sanitize import ALLOWED_TAGS
from pipeline.sources import decode_source, read_chapter, read_source, slug_of

IGNORE_RE = re.compile(r"<!--\s*booklet-ignore:\s*([a-z0-9, -]+?)\s*-->")
TAG_RE = re.compile(r"<([A-Za-z][A-Za-z0-9-]*)(?=[\s/>])[^<>]*>")
AUTOLINK_RE = re.compile(r"<(?:https?://|mailto:)[^<>\s]+>|<[^<>\s@]+@[^<>\s]+>")
CODE_SPAN_RE = re.compile(r"`[^`]*`")
LOST_SOURCE_RE = re.compile(r"\bFrom:\s*$")
FOOTNOTE_RE = re.compile(r"\[\^([^\]\s]+)\]")
FOOTNOTE_DEFINITION_RE = re.compile(r"^ {0,3}\[\^([^\]\s]+)\]:")
SENTENCE_END_RE = re.compile(r"(?<=[.!?])[\"'”’)]*\s+(?=[\"“‘(]?[A-Z0-9])")
CODE_PAGE_NAMES = {
    "cp1252": "Windows-1252",
    "cp874": "Thai cp874",
    "cp1251": "Cyrillic cp1251",
    "mac_roman": "Mac Roman",
}


@dataclass
class LintResult:
    findings: list[Finding] = field(default_factory=list)
    grades: dict[str, float] = field(default_factory=dict)  # chapter path -> grade level
    converted: list[ConvertedChapter] = field(default_factory=list)


def lint(config: Config, paths: list[Path] | None = None) -> LintResult:
    """Lint the chapters in booklet.toml's order, or report only on `paths`.

    Every configured chapter is read either way (it is fast), so that links
    from the files linted to other chapters can be checked.
    """
    root = config.root
    configured = [config.chapters_dir / name for name in config.chapter_files]
    wanted = configured if paths is None else paths
    selected = {shown_path(path, root) for path in wanted}
    result = LintResult()
    findings: list[Finding] = []
    for path in dict.fromkeys([*configured, *wanted]):
        findings.extend(_lint_file(path, config, result))
    try:
        check_references(result.converted, root)
    except BookletError as err:
        findings.extend(Finding.of(p) for p in err.problems)
    kept = [f for f in findings if f.path in selected]
    result.findings = sorted(silenced(kept, root), key=Finding.sort_key)
    result.grades = {k: v for k, v in result.grades.items() if k in selected}
    return result


def _lint_file(path: Path, config: Config, result: LintResult) -> list[Finding]:
    root = config.root
    rel = shown_path(path, root)
    if not Path(os.path.normpath(path)).is_relative_to(root.resolve()):
        return [Finding(rel, None, None, "error", "is outside the project", "input")]
    try:
        raw = read_source(path, root)
    except BookletError as err:
        return [Finding.of(p) for p in err.problems]
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        return [
            Finding(rel, line, None, "error", "not UTF-8 text (save it as UTF-8, or use "
                    "'booklet import' to convert it)", "encoding")
        ]
    try:
        decode_source(raw, rel)
    except BookletError as err:
        return [Finding.of(p, check="encoding") for p in err.problems]
    try:
        chapter = read_chapter(path, slug_of(path), root)
    except BookletError as err:
        text = raw.decode("utf-8-sig").replace("\r\n", "\n")
        findings = _mojibake(text, rel)
        findings.extend(Finding.of(p, check="front-matter") for p in err.problems)
        parts = text.split("\n---\n", 1)
        if text.startswith("---\n") and len(parts) == 2:
            # Still check the body, as a chapter with no content-chapter duties.
            first = parts[0].count("\n") + 3
            stub = Chapter(slug_of(path), path, "", date.min, parts[1], first, kind="about")
            findings += _structure(stub, parts[1].split("\n"), rel, config)
        return findings
    try:
        converted = convert(chapter, root)
    except BookletError as err:
        lines = chapter.body.split("\n")
        findings = _mojibake(raw.decode("utf-8-sig"), rel)
        findings += _structure(chapter, lines, rel, config)
        findings.extend(Finding.of(p) for p in err.problems)
        return findings
    result.converted.append(converted)
    findings, grade = lint_chapter(converted, config)
    result.grades[rel] = grade
    return findings


def lint_chapter(converted: ConvertedChapter, config: Config) -> tuple[list[Finding], float]:
    """The lint checks on a chapter that read and converted cleanly; and its grade level."""
    chapter = converted.chapter
    rel = shown_path(chapter.path, config.root)
    findings = _mojibake(chapter.path.read_text(encoding="utf-8-sig"), rel)
    findings += _structure(chapter, chapter.body.split("\n"), rel, config)
    findings += _duplicate_headings(converted, rel)
    findings += [Finding.of(p, severity="warning") for p in converted.removed_html]
    grade, readability = _readability(converted, rel, config)
    return findings + readability, grade


def _mojibake(text: str, rel: str) -> list[Finding]:
    findings = []
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        for damage in mojibake.find(line):
            through = CODE_PAGE_NAMES[damage.code_page]
            if damage.rounds > 1:
                through += f", {damage.rounds} times"
            findings.append(
                Finding(
                    rel, number, damage.start, "error",
                    f"garbled text '{damage.text}' (UTF-8 read as {through}): "
                    f"should be '{damage.repaired}'",
                    "mojibake",
                )
            )
    return findings


def _structure(chapter: Chapter, lines: list[str], rel: str, config: Config) -> list[Finding]:
    """Checks on the Markdown lines: headings, HTML, lost sources, chapter needs."""
    findings = []
    first = chapter.body_line
    level = 1
    fenced = False
    talk = False
    for offset, line in enumerate(lines):
        number = first + offset
        if FENCE_RE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        heading = HEADING_RE.match(line)
        if heading:
            new = len(heading.group(1))
            if new > level + 1:
                findings.append(
                    Finding(rel, number, 1, "warning",
                            f"heading level {new} follows level {level}: a level is skipped",
                            "heading-level")
                )
            level = new
        if re.match(r"^\s*!!!\s+talk\b", line):
            talk = True
        visible = CODE_SPAN_RE.sub(lambda m: " " * len(m.group()), line)
        visible = re.sub(r"<!--.*?-->", lambda m: " " * len(m.group()), visible)
        visible = AUTOLINK_RE.sub(lambda m: " " * len(m.group()), visible)
        for tag in TAG_RE.finditer(visible):
            if tag.group(1).lower() not in ALLOWED_TAGS:
                continue  # removed by the sanitiser, which says so (convert.py)
            findings.append(
                Finding(rel, number, tag.start() + 1, "warning",
                        f"raw HTML <{tag.group(1).lower()}> in Markdown: write it in Markdown "
                        "instead", "raw-html")
            )
        lost = LOST_SOURCE_RE.search(line)
        if lost:
            findings.append(
                Finding(rel, number, lost.start() + 1, "warning",
                        "'From:' with nothing after it: the source's link was lost; describe "
                        "the source instead", "lost-source")
            )
    for source in chapter.sources:
        if LOST_SOURCE_RE.search(source.text) and not source.url:
            findings.append(
                Finding(rel, _front_line(chapter, "sources"), None, "warning",
                        f"source '{source.text}' ends in 'From:' with nothing after it",
                        "lost-source")
            )
    findings += _footnotes(lines, first, rel)
    limit = config.checks.max_sentence_words
    for number, words, start in _long_sentences(lines, first, limit):
        findings.append(
            Finding(rel, number, start, "warning",
                    f"sentence of {words} words (over {limit}): split it", "long-sentence")
        )
    if chapter.kind == "content":
        if not chapter.sources:
            findings.append(
                Finding(rel, first, None, "warning",
                        "content chapter has no sources (add 'sources:' to the front matter)",
                        "sources")
            )
        if not talk:
            findings.append(
                Finding(rel, first, None, "warning",
                        "content chapter has no '!!! talk' call-out (talk to your care team)",
                        "care-team")
            )
    return findings


def _footnotes(lines: list[str], first: int, rel: str) -> list[Finding]:
    """Footnotes cited but never defined (printed as '[^x]'), or defined but never cited."""
    cited: dict[str, tuple[int, int]] = {}
    defined: dict[str, int] = {}
    fenced = False
    for offset, line in enumerate(lines):
        if FENCE_RE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        visible = CODE_SPAN_RE.sub(lambda m: " " * len(m.group()), line)
        definition = FOOTNOTE_DEFINITION_RE.match(visible)
        if definition:
            defined.setdefault(definition.group(1), first + offset)
            visible = visible[definition.end():]
        for citation in FOOTNOTE_RE.finditer(visible):
            cited.setdefault(citation.group(1), (first + offset, citation.start() + 1))
    findings = [
        Finding(rel, number, column, "warning",
                f"footnote [^{label}] is cited but never defined: it prints as '[^{label}]' "
                f"(add a line '[^{label}]: ...')", "footnote")
        for label, (number, column) in cited.items() if label not in defined
    ]
    findings += [
        Finding(rel, number, 1, "warning",
                f"footnote [^{label}] is defined but never cited, so it is not printed",
                "footnote")
        for label, number in defined.items() if label not in cited
    ]
    return findings


def _duplicate_headings(converted: ConvertedChapter, rel: str) -> list[Finding]:
    seen: dict[str, int] = {}
    findings = []
    for heading in converted.headings:
        base = re.sub(r"_\d+$", "", heading.anchor)
        if base in seen:
            findings.append(
                Finding(rel, heading.line, 1, "warning",
                        f"heading '{heading.text}' has the same id as the one on line "
                        f"{seen[base]}: links to it go to the first", "duplicate-heading")
            )
        else:
            seen[base] = heading.line
    return findings


def _readability(
    converted: ConvertedChapter, rel: str, config: Config
) -> tuple[float, list[Finding]]:
    findings = []
    text = _plain_text(converted.html)
    grade = reading_grade(text, config.root) if text.strip() else 0.0
    chapter = converted.chapter
    limit = config.checks.max_grade
    if grade > limit and chapter.kind == "content":
        findings.append(
            Finding(rel, chapter.body_line, None, "warning",
                    f"reading grade level {grade:.1f} is above {limit:g}: shorter sentences and "
                    "everyday words help tired readers", "readability")
        )
    return grade, findings


_PUNCTUATION = re.compile(r"[^\w\s]")
_SENTENCE = re.compile(r"\b[^.!?]+[.!?]*")


def reading_grade(text: str, root: Path) -> float:
    """The Flesch-Kincaid grade level of `text`, as textstat 0.7.3 counts it.

    0.39 × words per sentence + 11.8 × syllables per word − 15.59, each
    average rounded to a tenth, and the grade too (as textstat rounds a
    positive number). A word is what is left between spaces once punctuation
    is removed; a sentence runs to a full stop, question or exclamation mark,
    and one of two words or fewer is not counted; a word has one syllable
    more than the places pyphen would hyphenate it (US English). (textstat
    loaded setuptools' pkg_resources: a fifth of a second and 8 MB in every
    process that linted, and in the server that forks them.)
    """
    import pyphen

    words = _PUNCTUATION.sub("", text).split()
    sentences = [found for found in _SENTENCE.findall(text)
                 if len(_PUNCTUATION.sub("", found).split()) > 2]
    hyphenation_patterns("en_US", root)
    syllables = pyphen.Pyphen(lang="en_US")
    each = Counter(_PUNCTUATION.sub("", text.lower()).split())  # (a word once)
    count = sum((len(syllables.positions(word)) + 1) * times for word, times in each.items())
    per_sentence = _tenths(len(words) / max(1, len(sentences)))
    per_word = _tenths(count / len(words)) if words else 0.0
    return _tenths(0.39 * per_sentence + 11.8 * per_word - 15.59)


def _tenths(number: float) -> float:
    """`number` rounded to a tenth, halves away from zero.

    (textstat floored a negative number's tenths less a half: -1.06 gave -1.2.)
    """
    return math.copysign(math.floor(abs(number) * 10 + 0.5), number) / 10


def _plain_text(fragment: str) -> str:
    fragment = re.sub(r"<(table|pre)\b.*?</\1>", " ", fragment, flags=re.S)
    # The glossary's "Used in: <chapter titles>" lines are navigation, not prose.
    fragment = re.sub(r'<p class="term-uses">.*?</p>', " ", fragment, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def longest_sentences(chapter: Chapter, count: int = 3) -> tuple[tuple[int, int], ...]:
    """(line, words) of the chapter's `count` longest sentences, longest first."""
    found = _long_sentences(chapter.body.split("\n"), chapter.body_line, 0)
    ranked = sorted(found, key=lambda item: (-item[1], item[0]))[:count]
    return tuple((line, words) for line, words, _ in ranked)


def _long_sentences(lines: list[str], first: int, limit: int) -> list[tuple[int, int, int]]:
    """(line, words, column) of sentences over `limit` words, paragraph by paragraph."""
    found = []
    block: list[tuple[int, str]] = []

    def flush() -> None:
        if not block:
            return
        joined = ""
        starts = []  # (offset in joined, line number)
        for number, line in block:
            starts.append((len(joined), number))
            joined += line.strip() + " "
        position = 0
        for sentence in SENTENCE_END_RE.split(joined):
            offset = joined.find(sentence, position)
            position = offset + len(sentence)
            words = len(re.findall(r"[A-Za-z0-9’']+", sentence))
            if words > limit:
                line = max(n for o, n in starts if o <= offset)
                column_base = max(o for o, n in starts if o <= offset)
                found.append((line, words, offset - column_base + 1))
        block.clear()

    fenced = False
    for offset, line in enumerate(lines):
        if FENCE_RE.match(line):
            fenced = not fenced
        stripped = line.strip()
        structural = (
            not stripped or fenced or stripped.startswith(("#", "|", "!!!", "[^", "<!--", "["))
            or re.match(r"^([-*+]|\d+[.)])\s", stripped)
        )
        if structural:
            flush()
            if stripped and re.match(r"^([-*+]|\d+[.)])\s", stripped):
                block.append((first + offset, re.sub(r"^([-*+]|\d+[.)])\s+", "", stripped)))
            continue
        block.append((first + offset, line))
    flush()
    return found


def silenced(findings: list[Finding], root: Path) -> list[Finding]:
    """Drop findings silenced by a booklet-ignore comment on their line or the one above."""
    cache: dict[str, list[str]] = {}
    kept = []
    for finding in findings:
        if finding.line is None or not finding.path.endswith(".md"):
            kept.append(finding)
            continue
        if finding.path not in cache:
            try:
                cache[finding.path] = (root / finding.path).read_text(
                    encoding="utf-8-sig", errors="replace"
                ).split("\n")
            except OSError:
                cache[finding.path] = []
        lines = cache[finding.path]
        names: set[str] = set()
        for number in (finding.line, finding.line - 1):
            if 1 <= number <= len(lines):
                for match in IGNORE_RE.finditer(lines[number - 1]):
                    names |= {n.strip() for n in match.group(1).split(",")}
        if finding.check not in names:
            kept.append(finding)
    return kept


def _front_line(chapter: Chapter, key: str) -> int | None:
    for number, line in enumerate(chapter.path.read_text(encoding="utf-8-sig").split("\n"), 1):
        if line.startswith(f"{key}:"):
            return number
    return None



def as_errors(findings: list[Finding]) -> list[Finding]:
    """--strict: every warning becomes an error."""
    return [replace(f, severity="error") for f in findings]
