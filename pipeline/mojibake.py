"""Text -> places where UTF-8 was read through a legacy code page, and their repair.

Mojibake keeps the UTF-8 byte structure: each garbled character stands for
one byte, a lead byte (C2-F4) followed by its continuation bytes (80-BF).
For each code page (Windows-1252, the Thai cp874, Cyrillic cp1251, Mac
Roman) we know which byte each character stands for, so we look for runs
of characters whose bytes form valid UTF-8, decode them, and repeat for
text that went through the damage twice.

Correct text in other scripts is protected two ways: its bytes almost never
form valid UTF-8 (Cyrillic, Thai and accented Latin letters sit where
lead bytes would need continuation bytes), and where they do by chance, a
run made only of letters of a script that the rest of the line is also
written in is taken to be real text, not damage. What it decodes to must
also be something a guide in English would contain (Latin letters,
typographic punctuation, symbols, or Latin/Greek/Cyrillic/Thai letters).
General-purpose fixers such as ftfy do not know cp874, hence this module.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

CODE_PAGES = ("cp1252", "cp874", "cp1251", "mac_roman")
MAX_ROUNDS = 3


@dataclass(frozen=True)
class Damage:
    """One garbled place in a line: columns are 1-based, `end` exclusive."""

    start: int
    end: int
    text: str
    repaired: str
    code_page: str
    rounds: int


@cache
def _byte_of(code_page: str) -> dict[str, int]:
    """Character -> the byte it stands for in `code_page` (undefined bytes as C1 controls)."""
    table = {}
    for byte in range(256):
        try:
            char = bytes([byte]).decode(code_page)
        except UnicodeDecodeError:
            char = chr(byte)  # what a sloppy decoder leaves for an undefined byte
        table.setdefault(char, byte)
    if code_page == "cp1252":
        # A strict decoder leaves U+FFFD for a byte cp1252 does not define; in
        # mojibake that is nearly always 0x9D, the end of the right double quote
        # (E2 80 9D). In cp874 the curly apostrophe's last byte is undefined too,
        # so there U+FFFD is ambiguous and is left alone.
        table["\ufffd"] = 0x9D
    return table


@cache
def _pattern(code_page: str) -> re.Pattern[str]:
    """Runs of characters whose bytes are well-formed multi-byte UTF-8 sequences."""
    table = _byte_of(code_page)

    def chars(low: int, high: int) -> str:
        return "".join(re.escape(c) for c, b in table.items() if low <= b <= high)

    cont = f"[{chars(0x80, 0xBF)}]"
    sequence = (
        f"[{chars(0xC2, 0xDF)}]{cont}"
        f"|[{chars(0xE0, 0xEF)}]{cont}{{2}}"
        f"|[{chars(0xF0, 0xF4)}]{cont}{{3}}"
    )
    return re.compile(f"(?:{sequence})+")


def _decode(text: str, code_page: str) -> str | None:
    table = _byte_of(code_page)
    try:
        raw = bytes(table[c] for c in text)
        return raw.decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        return None


PLAUSIBLE_SCRIPTS = ("LATIN", "GREEK", "CYRILLIC", "THAI")


def _plausible(text: str) -> bool:
    """Would a guide in English (with the odd foreign word) contain this?"""
    for char in text:
        category = unicodedata.category(char)
        if category.startswith("C"):  # control, private use, unassigned
            return False
        if category.startswith("L"):
            name = unicodedata.name(char, "")
            if not name.startswith(PLAUSIBLE_SCRIPTS):
                return False
        elif ord(char) > 0x2BFF:  # symbols beyond arrows, maths, shapes: not in a guide
            return False
    return True


def _script(char: str) -> str:
    return unicodedata.name(char, "?").split(" ")[0]


def _looks_like_real_text(run: str, rest: str) -> bool:
    """Letters only, of one script that the rest of the line also uses."""
    if not all(unicodedata.category(c).startswith(("L", "M")) for c in run):
        return False
    scripts = {_script(c) for c in run}
    if len(scripts) != 1:
        return False
    (script,) = scripts
    return any(
        unicodedata.category(c).startswith("L") and _script(c) == script for c in rest
    )


def _repair_run(text: str, code_page: str) -> tuple[str, int] | None:
    """Decode the run, then again while the result is itself mojibake (double damage)."""
    current = _decode(text, code_page)
    if current is None:
        return None
    rounds = 1
    while rounds < MAX_ROUNDS:
        for other in CODE_PAGES:
            if _pattern(other).fullmatch(current):
                again = _decode(current, other)
                if again is not None and _plausible(again):
                    current = again
                    rounds += 1
                    break
        else:
            break
    return (current, rounds) if _plausible(current) else None


def find(line: str) -> list[Damage]:
    """Every garbled place in one line of text."""
    if line.isascii():  # every character mojibake is made of stands for a byte over 7F
        return []
    candidates: list[Damage] = []
    for code_page in CODE_PAGES:
        rest = None
        for match in _pattern(code_page).finditer(line):
            if rest is None:  # the line, with every candidate run of this code page out
                rest = _pattern(code_page).sub(" ", line)
            run = match.group()
            if _looks_like_real_text(run, rest):
                continue
            repaired = _repair_run(run, code_page)
            if repaired is not None:
                start, end = match.span()
                text, rounds = repaired
                candidates.append(Damage(start + 1, end + 1, run, text, code_page, rounds))
    # Where code pages disagree, the longest reading wins: a run that decodes whole
    # through one code page beats a piece of it that happens to decode through another.
    chosen: list[Damage] = []
    def preference(damage: Damage) -> tuple[int, int]:
        return damage.start - damage.end, CODE_PAGES.index(damage.code_page)

    for damage in sorted(candidates, key=preference):
        if all(damage.end <= c.start or c.end <= damage.start for c in chosen):
            chosen.append(damage)
    return sorted(chosen, key=lambda d: d.start)


def repair(text: str) -> tuple[str, int]:
    """The text with every garbled place repaired, and how many places there were."""
    lines = text.split("\n")
    count = 0
    for index, line in enumerate(lines):
        damages = find(line)
        for damage in reversed(damages):
            line = line[: damage.start - 1] + damage.repaired + line[damage.end - 1 :]
        lines[index] = line
        count += len(damages)
    return "\n".join(lines), count
