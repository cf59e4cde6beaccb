"""The `booklet` command: build, check, lint, import.

Author mistakes that stop a build print as `path:line: message` and exit 1.
Lint and preflight findings print as `path:line:col: severity: message [check]`,
sorted, then a one-line summary; any error (or, with --strict, any warning)
exits 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from pipeline.model import BookletError, BuildReport, Finding, shown_path

log = logging.getLogger("booklet")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    try:
        return _COMMANDS[args.command](args)
    except BookletError as err:
        for problem in sorted(err.problems, key=lambda p: (p.path, p.line or 0)):
            print(problem, file=sys.stderr)
        count = len(err.problems)
        print(
            f"booklet: {count} problem{'s' if count != 1 else ''}; nothing was written",
            file=sys.stderr,
        )
        return 1
    finally:
        log.removeHandler(handler)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="booklet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "-C", "--project", type=Path, default=Path.cwd(),
        help="the project folder (with booklet.toml); default: the current folder",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build output/guide.pdf, then check it")
    build.add_argument("-o", "--output", type=Path, help="where to write the PDF")
    build.add_argument(
        "-j", "--jobs", type=int, help="parallel typesetting processes (default: all cores)"
    )
    build.add_argument("--strict", action="store_true", help="treat warnings as errors")
    which = build.add_mutually_exclusive_group()
    which.add_argument("--edition", help="build one edition to output/editions/NAME.pdf")
    which.add_argument("--all-editions", action="store_true",
                       help="build every edition in booklet.toml to output/editions/")
    build.add_argument("--only", metavar="SLUG",
                       help="also write one chapter, with its book folios, to "
                            "output/chapters/SLUG.pdf")

    check = commands.add_parser(
        "check", help="lint, build if anything changed, preflight the PDF, report"
    )
    check.add_argument("-j", "--jobs", type=int, help="parallel typesetting processes")
    check.add_argument("--strict", action="store_true", help="treat warnings as errors")

    lint = commands.add_parser("lint", help="check the Markdown sources only (fast)")
    lint.add_argument("paths", nargs="*", type=Path, help="chapter files (default: all)")
    lint.add_argument("--strict", action="store_true", help="treat warnings as errors")

    handouts = commands.add_parser(
        "handouts", help="clinic handouts to output/handouts/<clinic>/<chapter>.pdf"
    )
    handouts.add_argument("--clinic", help="one clinic (clinics/NAME.toml)")
    handouts.add_argument("--chapter", help="one chapter, by its slug")
    handouts.add_argument("--unbranded", action="store_true",
                          help="no clinic: the guide's own name and address")
    handouts.add_argument("-j", "--jobs", type=int, help="parallel typesetting processes")

    copies = commands.add_parser(
        "copies", help="cover letters, guides, labels and a manifest for a list of requests"
    )
    copies.add_argument("requests", type=Path, nargs="?", help="the requests CSV file")
    copies.add_argument("--batch", help="the batch name (default: the CSV file's name)")
    copies.add_argument("--labels", choices=("letter", "a4"), help="label sheet paper")
    copies.add_argument("--purge", metavar="BATCH", help="remove a batch's personal files")
    copies.add_argument("-j", "--jobs", type=int, help="parallel typesetting processes")

    commands.add_parser("clean", help="empty the cache (output/.cache)")

    importer = commands.add_parser("import", help="turn pasted text into a clean chapter")
    importer.add_argument("file", type=Path, help="a text, Markdown or HTML file")
    importer.add_argument("--to", type=Path, help="the chapter to write (chapters/NN-slug.md)")
    importer.add_argument("--force", action="store_true", help="overwrite an existing chapter")
    return parser


def _epoch() -> int | None:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None and not epoch.strip().isdigit():
        raise BookletError.at("SOURCE_DATE_EPOCH", None, f"must be whole seconds, not '{epoch}'")
    return int(epoch) if epoch else None


def _build(args: argparse.Namespace) -> int:
    from pipeline.build import build, build_all_editions

    if args.only:
        from pipeline.config import load_config
        from pipeline.sources import slug_of

        slugs = [slug_of(Path(name)) for name in load_config(args.project.resolve()).chapter_files]
        if args.only not in slugs:
            raise BookletError.at("--only", None, f"no chapter '{args.only}'",
                                  f"chapters: {', '.join(slugs)}")
    if args.all_editions:
        if args.output:
            raise BookletError.at("--output", None, "cannot be used with --all-editions")
        reports = build_all_editions(
            args.project, jobs=args.jobs, source_date_epoch=_epoch(), strict=args.strict
        )
        return max(_report(report, args.project) for report in reports)
    if args.output is not None and not args.output.resolve().parent.is_dir():
        raise BookletError.at("--output", None,
                              f"folder '{args.output.parent}' does not exist",
                              "create it first, or write the PDF somewhere else")
    report = build(
        args.project,
        output=args.output.resolve() if args.output else None,
        jobs=args.jobs,
        source_date_epoch=_epoch(),
        strict=args.strict,
        edition=args.edition,
    )
    status = _report(report, args.project)
    if args.only and not report.rejected:
        from pipeline.build import extract_chapter

        path = extract_chapter(report, args.only, args.project.resolve())
        print(f"booklet: wrote {shown_path(path, args.project)}", file=sys.stderr)
    return status


def _check(args: argparse.Namespace) -> int:
    from pipeline.build import build, check_existing, inputs_newer_than

    root = args.project.resolve()
    output = root / "output" / "guide.pdf"
    if inputs_newer_than(output, root):
        report = build(root, jobs=args.jobs, source_date_epoch=_epoch(), strict=args.strict)
    else:
        log.info("output/guide.pdf is up to date: checking it without building")
        report = check_existing(root, output, strict=args.strict)
    return _report(report, root)


def _lint(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.lint import as_errors, lint

    root = args.project.resolve()
    paths = [p if p.is_absolute() else Path.cwd() / p for p in args.paths] or None
    result = lint(load_config(root), paths)
    findings = as_errors(result.findings) if args.strict else result.findings
    _print_findings(findings)
    errors = sum(1 for f in findings if f.severity == "error")
    grades = ", ".join(f"{Path(p).stem} {g:.1f}" for p, g in result.grades.items())
    print(
        f"lint: {_count(errors, 'error')}, {_count(len(findings) - errors, 'warning')} "
        f"in {len(result.grades) or len(paths or [])} chapters"
        + (f"; reading grade: {grades}" if grades else ""),
        file=sys.stderr,
    )
    return 1 if errors else 0


def _handouts(args: argparse.Namespace) -> int:
    from pipeline.handouts import build_handouts

    everything = args.chapter is None and not args.unbranded
    report = build_handouts(
        args.project, clinic=args.clinic, chapter=args.chapter,
        everything=everything or (args.chapter is None and args.clinic is not None),
        jobs=args.jobs, source_date_epoch=_epoch(),
    )
    _print_findings(list(report.findings))
    root = args.project.resolve()
    for handout in report.handouts:
        print(f"{shown_path(handout.path, root)}: {handout.pages} pages", file=sys.stderr)
    errors = sum(1 for f in report.findings if f.severity == "error")
    print(f"handouts: {len(report.handouts)} built in {report.seconds:.2f}s, "
          f"{_count(errors, 'error')}, {_count(len(report.findings) - errors, 'warning')}",
          file=sys.stderr)
    return 1 if errors else 0


def _copies(args: argparse.Namespace) -> int:
    from pipeline.copies import make_copies, purge, summary

    root = args.project.resolve()
    if args.purge:
        removed = purge(root, args.purge)
        for name in removed:
            print(f"removed {name}", file=sys.stderr)
        print(f"copies: purged batch {args.purge} ({len(removed)} files)", file=sys.stderr)
        return 0
    if args.requests is None:
        raise BookletError.at("booklet copies", None, "name the requests CSV file",
                              "booklet copies requests.csv [--batch NAME]")
    report = make_copies(root, args.requests.resolve(), args.batch, args.labels, args.jobs,
                         _epoch())
    for outcome in report.outcomes:
        if outcome.status == "rejected":
            who = f" ({outcome.request_id})" if outcome.request_id else ""
            print(f"{shown_path(args.requests, root)}: row {outcome.row}{who}: rejected: "
                  f"{outcome.reason}", file=sys.stderr)
    print(summary(report, root), file=sys.stderr)
    return 1 if report.count("rejected") else 0


def _clean(args: argparse.Namespace) -> int:
    from pipeline.cache import clean

    removed = clean(args.project)
    for name in removed:
        print(f"removed {name}", file=sys.stderr)
    print(f"clean: the cache is empty ({len(removed)} entries removed)", file=sys.stderr)
    return 0


def _import(args: argparse.Namespace) -> int:
    from pipeline.importer import import_file

    root = args.project.resolve()
    result = import_file(args.file, root, args.to, force=args.force)
    print(f"{result.summary()}", file=sys.stderr)
    return 0


def _report(report: BuildReport, root: Path) -> int:
    _print_findings(list(report.findings))
    if report.grades:
        grades = ", ".join(f"{Path(p).stem} {g:.1f}" for p, g in report.grades.items())
        print(f"reading grade level: {grades}", file=sys.stderr)
    shown = shown_path(report.output, root)
    stages = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in report.seconds.items())
    if report.cache_hits or report.cache_misses:
        stages += f"; {report.cache_hits} parts from the cache, {report.cache_misses} typeset"
    counts = f"{_count(report.errors, 'error')}, {_count(report.warnings, 'warning')}"
    if report.rejected:
        intended = shown_path(report.target or report.output, root)
        print(
            f"booklet: {counts}: the PDF was not accepted. It is kept for inspection at "
            f"{shown}; {intended} still holds the last good build.",
            file=sys.stderr,
        )
        return 1
    print(
        f"booklet: {counts}; {shown}: {report.pages} pages, {report.chapters} chapters, "
        f"{report.bytes // 1024} KB ({stages})",
        file=sys.stderr,
    )
    if report.sheets:
        files = ", ".join(shown_path(p, root) for p in report.extras)
        print(
            f"booklet: {report.edition}: {report.sheets} sheets, imposed for folding "
            f"({report.padding} blank page{'' if report.padding == 1 else 's'} added before "
            f"the back cover); also wrote {files}",
            file=sys.stderr,
        )
    return 0


def _print_findings(findings: list[Finding]) -> None:
    for finding in sorted(findings, key=Finding.sort_key):
        print(finding, file=sys.stderr)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"



_COMMANDS = {
    "build": _build, "check": _check, "lint": _lint, "import": _import, "handouts": _handouts,
    "copies": _copies, "clean": _clean,
}
