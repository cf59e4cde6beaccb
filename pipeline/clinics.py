"""clinics/<name>.toml -> Clinic: who hands a chapter out, and how to reach them.

Every field is plain text. It is escaped wherever it is printed and never
read as HTML, CSS or a template. A logo must be an SVG or PNG file inside
the clinics/ folder; it is checked here, before any typesetting.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import did_you_mean, key_line
from pipeline.images import image_problem
from pipeline.model import LIMITS, BookletError, Problem, megabytes
from pipeline.sources import CONTROL_RE

CLINIC_KEYS = {
    "name": "text",
    "address": "a list of lines of text",
    "phone": "text",
    "web": "text",
    "email": "text",
    "logo": "a file name (SVG or PNG) in clinics/",
    "paper": "'letter' or 'a4'",
    "accent": "a colour like '#005a52'",
    "note": "text",
}
REQUIRED = ("name", "phone")
HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_LOGO_BYTES = 2_000_000


@dataclass(frozen=True)
class Clinic:
    slug: str  # the file name without .toml; names the output folder
    name: str
    phone: str
    address: tuple[str, ...] = ()
    web: str = ""
    email: str = ""
    logo: Path | None = None
    paper: str = "letter"
    accent: str = "#005a52"
    note: str = ""


def clinics_dir(root: Path) -> Path:
    return root / "clinics"


def load_clinics(root: Path) -> list[Clinic]:
    folder = clinics_dir(root)
    problems: list[Problem] = []
    clinics = []
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            clinics.append(load_clinic(path, root))
        except BookletError as err:
            problems.extend(err.problems)
    if problems:
        raise BookletError(problems)
    return clinics


def find_clinic(root: Path, slug: str) -> Clinic:
    path = clinics_dir(root) / f"{slug}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in clinics_dir(root).glob("*.toml"))
        hint = did_you_mean(slug, dict.fromkeys(known)) or (
            f"clinics: {', '.join(known)}" if known else "add clinics/<name>.toml"
        )
        raise BookletError.at(f"clinics/{slug}.toml", None, f"no clinic '{slug}'", hint)
    return load_clinic(path, root)


def load_clinic(path: Path, root: Path) -> Clinic:
    rel = f"clinics/{path.name}"
    if not path.resolve().is_relative_to(root.resolve()):
        raise BookletError.at(rel, None, "is a link to a file outside the project",
                              "copy the file into clinics/ instead")
    size = path.stat().st_size
    if size > LIMITS.clinic_bytes:
        raise BookletError.at(rel, None, f"is {megabytes(size)}, over the "
                                         f"{megabytes(LIMITS.clinic_bytes)} limit for a clinic")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise BookletError.at(rel, None, "not UTF-8 text", "save it as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        match = re.search(r"at line (\d+)", str(err))
        raise BookletError.at(
            rel, int(match.group(1)) if match else None, f"malformed TOML: {err}"
        ) from None
    lines = text.splitlines()
    problems = []
    for key, value in data.items():
        line = key_line(lines, None, key)
        if key not in CLINIC_KEYS:
            problems.append(Problem(rel, line, f"unknown key '{key}'",
                                    did_you_mean(key, CLINIC_KEYS)
                                    or f"known keys: {', '.join(CLINIC_KEYS)}"))
        elif key == "address":
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                problems.append(Problem(rel, line, f"'address' must be {CLINIC_KEYS[key]}"))
        elif not isinstance(value, str):
            problems.append(Problem(rel, line, f"'{key}' must be {CLINIC_KEYS[key]}"))
        for item in value if isinstance(value, list) else [value]:
            problem = _text_problem(item) if isinstance(item, str) else None
            if problem:
                problems.append(Problem(rel, line, f"'{key}' {problem}"))
    for key in REQUIRED:
        if key not in data:
            problems.append(Problem(rel, 1, f"missing key '{key}'", f'add: {key} = "..."'))
    if problems:
        raise BookletError(problems)
    paper = data.get("paper", "letter").lower()
    if paper not in ("letter", "a4"):
        problems.append(Problem(rel, key_line(lines, None, "paper"),
                                f"paper must be 'letter' or 'a4', not '{paper}'"))
    accent = data.get("accent", "#005a52")
    if not HEX_COLOUR.match(accent):
        problems.append(Problem(rel, key_line(lines, None, "accent"),
                                f"accent must be a colour like '#005a52', not '{accent}'"))
    elif _contrast(accent, "#ffffff") < 4.5:
        problems.append(Problem(rel, key_line(lines, None, "accent"),
                                f"accent {accent} is too light to read on white paper "
                                f"(contrast {_contrast(accent, '#ffffff'):.1f}:1, needs 4.5:1)",
                                "choose a darker colour"))
    logo = None
    if "logo" in data:
        logo = _check_logo(data["logo"], root, rel, key_line(lines, None, "logo"), problems)
    if problems:
        raise BookletError(problems)
    return Clinic(
        slug=path.stem,
        name=data["name"].strip(),
        phone=data["phone"].strip(),
        address=tuple(line.strip() for line in data.get("address", [])),
        web=data.get("web", "").strip(),
        email=data.get("email", "").strip(),
        logo=logo,
        paper=paper,
        accent=accent,
        note=data.get("note", "").strip(),
    )


def _check_logo(
    name: str, root: Path, rel: str, line: int | None, problems: list[Problem]
) -> Path | None:
    folder = clinics_dir(root).resolve()
    path = (folder / name).resolve()
    if not path.is_relative_to(folder):
        problems.append(Problem(rel, line, f"logo '{name}' is outside the clinics folder",
                                "put the logo file in clinics/"))
        return None
    if not path.is_file():
        problems.append(Problem(rel, line, f"logo file 'clinics/{name}' not found",
                                "put the logo file in clinics/, or remove the line"))
        return None
    data = path.read_bytes()
    if len(data) > MAX_LOGO_BYTES:
        problems.append(Problem(rel, line, f"logo '{name}' is over 2 MB", "use a smaller file"))
        return None
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        problems.append(Problem(rel, line, f"logo '{name}' must be an .svg or .png file"))
        return None
    problem = image_problem(data, path.name)
    if suffix == ".png" and problem is None and not data.startswith(b"\x89PNG"):
        problem = "is not a PNG image"
    if problem:
        kind = "PNG" if suffix == ".png" else "SVG"
        problems.append(Problem(rel, line, f"logo '{name}' is not a valid {kind} image",
                                f"it {problem}"))
        return None
    return path


def _text_problem(text: str) -> str | None:
    """Text printed on every page: no control characters, no word longer than a line can be."""
    if CONTROL_RE.search(text):
        return "has a control character in it"
    if re.search(rf"\S{{{LIMITS.word_chars + 1},}}", text):
        return f"has a word of more than {LIMITS.word_chars:,} characters with no space"
    return None


def _contrast(first: str, second: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
