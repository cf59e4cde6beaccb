"""Command line: `booklet build`. Author mistakes print as path:line: message, exit 1."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from pipeline.model import BookletError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="booklet", description=__doc__)
    parser.add_argument(
        "-C", "--project", type=Path, default=Path.cwd(),
        help="the project folder (with booklet.toml); default: the current folder",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="build output/guide.pdf")
    build_parser.add_argument("-o", "--output", type=Path, help="where to write the PDF")
    build_parser.add_argument(
        "-j", "--jobs", type=int, help="parallel typesetting processes (default: all cores)"
    )
    args = parser.parse_args(argv)
    log = logging.getLogger("booklet")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    try:
        if args.command == "build":
            return _build(args)
    except BookletError as err:
        for problem in sorted(err.problems, key=lambda p: (p.path, p.line or 0)):
            print(problem, file=sys.stderr)
        count = len(err.problems)
        print(
            f"booklet: {count} problem{'s' if count != 1 else ''}; nothing was written",
            file=sys.stderr,
        )
        return 1
    return 2


def _build(args: argparse.Namespace) -> int:
    from pipeline.build import build

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None and not epoch.strip().isdigit():
        raise BookletError.at("SOURCE_DATE_EPOCH", None, f"must be whole seconds, not '{epoch}'")
    report = build(
        args.project,
        output=args.output.resolve() if args.output else None,
        jobs=args.jobs,
        source_date_epoch=int(epoch) if epoch else None,
    )
    log = logging.getLogger("booklet")
    stages = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in report.seconds.items())
    try:
        shown = report.output.relative_to(Path.cwd())
    except ValueError:
        shown = report.output
    log.info(
        "%s: %d pages, %d chapters, %d KB (%s)",
        shown, report.pages, report.chapters, report.bytes // 1024, stages,
    )
    return 0
