"""The `booklet` command: build, check, lint, import, preview.

Author mistakes that stop a build print as `path:line: message` and exit 1.
Lint and preflight findings print as `path:line:col: severity: message [check]`,
sorted, then a one-line summary; any error (or, with --strict, any warning)
exits 1.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from pipeline.progress import Progress

if TYPE_CHECKING:
    from pipeline.model import BuildReport, Finding
    from pipeline.workers import Workers

# Nothing else of the pipeline is imported here before a command starts the
# workers' server (server.start): the server loads WeasyPrint while this
# process imports the rest.

log = logging.getLogger("booklet")


class _Handler(logging.StreamHandler[TextIO]):
    """Log lines to stderr, after erasing a progress line that is on the terminal."""

    def __init__(self, progress: Progress) -> None:
        super().__init__(sys.stderr)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        self.progress.clear()
        super().emit(record)


def entry(argv: list[str] | None = None) -> int:
    """The `booklet` command as installed: `main`, then a quick way out.

    On its way out Python collects garbage over every object still alive,
    several times (a quarter of a second after a build); a command that is
    done has none worth collecting, so they are frozen out of it first. (Not
    for `main` called by a program that goes on: a test, the preview.)
    """
    try:
        status = main(argv)
    except KeyboardInterrupt:  # Ctrl-C: what was written is whole (files.py); no traceback
        print("\nbooklet: stopped (Ctrl-C)", file=sys.stderr)
        status = 130
    gc.freeze()
    return status


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as typed (for server.forward)
    # -q: problems only, so no progress either.
    progress = Progress(None if args.quiet else sys.stderr)
    handler = _Handler(progress)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    try:
        return _COMMANDS[args.command](args, progress)
    except Exception as err:
        from dataclasses import replace

        from pipeline.model import BookletError, shown_path

        if not isinstance(err, BookletError):
            raise
        progress.clear()
        # A file of the project is named from the project, however it was found.
        problems = [replace(p, path=shown_path(Path(p.path), args.project))
                    if os.path.isabs(p.path) else p for p in err.problems]
        for problem in sorted(problems, key=lambda p: (p.path, p.line or 0)):
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

    preview = commands.add_parser(
        "preview", help="rebuild on every save and show the pages on http://127.0.0.1:PORT/"
    )
    preview.add_argument("--port", type=int, default=8000,
                         help="the port on 127.0.0.1 (default: 8000; 0: any free port)")
    preview.add_argument("--edition", help="preview this edition (default: the default one)")
    preview.add_argument("-j", "--jobs", type=int, help="parallel typesetting processes")

    commands.add_parser("clean", help="empty the cache (output/.cache)")
    commands.add_parser("stop", help="stop the workers' server kept warm between builds")

    importer = commands.add_parser("import", help="turn pasted text into a clean chapter")
    importer.add_argument("file", type=Path, help="a text, Markdown or HTML file")
    importer.add_argument("--to", type=Path, help="the chapter to write (chapters/NN-slug.md)")
    importer.add_argument("--force", action="store_true", help="overwrite an existing chapter")
    return parser


def _epoch() -> int | None:
    from pipeline.model import BookletError

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None and not epoch.strip().isdigit():
        raise BookletError.at("SOURCE_DATE_EPOCH", None, f"must be whole seconds, not '{epoch}'")
    return int(epoch) if epoch else None


def _build(args: argparse.Namespace, progress: Progress) -> int:
    from pipeline import fresh  # light: answers before WeasyPrint and friends are imported

    root = args.project.resolve()
    options = {
        "command": "build", "edition": args.edition, "all_editions": args.all_editions,
        "output": str(args.output.resolve()) if args.output else None, "only": args.only,
        "strict": args.strict, "epoch": _epoch(),
    }
    digest = fresh.inputs_digest(root, options, date.today())
    record = fresh.still_good(root, options, digest)
    if record is not None:
        for line in record.lines:
            print(line, file=sys.stderr)
        print("booklet: nothing changed since the last build; its output is as it was",
              file=sys.stderr)
        return 0
    forwarded = _forwarded_or_started(args)
    if forwarded is not None:
        return forwarded
    reports = _built(args, progress)
    status = max(_report(report, args.project) for report in reports)
    if status == 0:
        from pipeline.build import check_json_path

        lines = [line for report in reports for line in _summary(report, root, False)[1]]
        outputs = [path for report in reports for path in (report.output, *report.extras)]
        outputs += [check_json_path(report.output) for report in reports]
        if args.only:
            outputs.append(root / "output" / "chapters" / f"{args.only}.pdf")
            lines.append(f"booklet: wrote output/chapters/{args.only}.pdf")
        fresh.remember(root, options, digest, [p for p in outputs if p.is_file()], lines)
    return status


def _forwarded_or_started(args: argparse.Namespace) -> int | None:
    """The command's exit status if the server kept warm ran it (server.forward);
    else None, with the workers' server started, for this process's workers."""
    from pipeline import server

    forwarded = server.forward(args.argv, args.jobs)
    if forwarded is None:
        server.start(args.jobs)
    return forwarded


def _built(args: argparse.Namespace, progress: Progress) -> list[BuildReport]:
    from pipeline.workers import Workers

    # The workers start first: each imports WeasyPrint while this process
    # imports the rest of the pipeline and reads the sources.
    with Workers(args.jobs) as workers:
        return _built_with(args, progress, workers)


def _built_with(args: argparse.Namespace, progress: Progress, workers: Workers
                ) -> list[BuildReport]:
    from pipeline.build import build, build_all_editions
    from pipeline.model import BookletError, shown_path

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
        return build_all_editions(
            args.project, jobs=args.jobs, source_date_epoch=_epoch(), strict=args.strict,
            progress=progress, workers=workers,
        )
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
        progress=progress,
        workers=workers,
    )
    if args.only and not report.rejected:
        from pipeline.build import extract_chapter

        path = extract_chapter(report, args.only, args.project.resolve())
        print(f"booklet: wrote {shown_path(path, args.project)}", file=sys.stderr)
    return [report]


def _check(args: argparse.Namespace, progress: Progress) -> int:
    from pipeline.build import build, check_existing, inputs_newer_than

    root = args.project.resolve()
    output = root / "output" / "guide.pdf"
    if inputs_newer_than(output, root):
        report = build(root, jobs=args.jobs, source_date_epoch=_epoch(), strict=args.strict,
                       progress=progress)
    else:
        log.info("output/guide.pdf is up to date: checking it without building")
        report = check_existing(root, output, strict=args.strict)
    for path, longest in report.longest.items():
        if longest:
            shown = ", ".join(f"line {line} ({words} words)" for line, words in longest)
            print(f"{path}: longest sentences: {shown}", file=sys.stderr)
    return _report(report, root)


def _lint(args: argparse.Namespace, progress: Progress) -> int:
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


def _handouts(args: argparse.Namespace, progress: Progress) -> int:
    from pipeline.handouts import build_handouts
    from pipeline.model import shown_path

    everything = args.chapter is None and not args.unbranded
    report = build_handouts(
        args.project, clinic=args.clinic, chapter=args.chapter,
        everything=everything or (args.chapter is None and args.clinic is not None),
        jobs=args.jobs, source_date_epoch=_epoch(), progress=progress,
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


def _copies(args: argparse.Namespace, progress: Progress) -> int:
    from pipeline.model import BookletError, shown_path

    root = args.project.resolve()
    if args.purge:
        from pipeline.copies import purge

        removed = purge(root, args.purge)
        for name in removed:
            print(f"removed {name}", file=sys.stderr)
        print(f"copies: purged batch {args.purge} ({len(removed)} files)", file=sys.stderr)
        return 0
    if args.requests is None:
        raise BookletError.at("booklet copies", None, "name the requests CSV file",
                              "booklet copies requests.csv [--batch NAME]")
    forwarded = _forwarded_or_started(args)
    if forwarded is not None:
        return forwarded
    from pipeline.workers import Workers

    # The workers start first: each imports WeasyPrint while this process
    # imports the rest of the pipeline and reads the requests.
    with Workers(args.jobs) as workers:
        from pipeline.copies import make_copies

        report = make_copies(root, args.requests.resolve(), args.batch, args.labels,
                             args.jobs, _epoch(), progress, workers)
    from pipeline.copies import summary

    for outcome in report.outcomes:
        if outcome.status == "rejected":
            who = f" ({outcome.request_id})" if outcome.request_id else ""
            print(f"{shown_path(args.requests, root)}: row {outcome.row}{who}: rejected: "
                  f"{outcome.reason}", file=sys.stderr)
    print(summary(report, root), file=sys.stderr)
    return 1 if report.count("rejected") else 0


def _preview(args: argparse.Namespace, progress: Progress) -> int:
    from pipeline.model import BookletError
    from pipeline.preview import run

    if not 0 <= args.port <= 65535:
        raise BookletError.at("--port", None, f"no port {args.port}", "0-65535; 0: any free port")
    return run(args.project, args.port, args.edition, args.jobs, _epoch(), progress)


def _clean(args: argparse.Namespace, progress: Progress) -> int:
    from pipeline.cache import clean

    removed = clean(args.project)
    for name in removed:
        print(f"removed {name}", file=sys.stderr)
    print(f"clean: the cache is empty ({len(removed)} entries removed)", file=sys.stderr)
    return 0


def _stop(args: argparse.Namespace, progress: Progress) -> int:
    from pipeline import server

    stopped = server.stop(wait=5.0)
    print(f"stop: {_count(stopped, 'server')} stopped", file=sys.stderr)
    return 0


def _import(args: argparse.Namespace, progress: Progress) -> int:
    from pipeline.importer import import_file

    root = args.project.resolve()
    result = import_file(args.file, root, args.to, force=args.force)
    print(f"{result.summary()}", file=sys.stderr)
    return 0


def _report(report: BuildReport, root: Path) -> int:
    status, lines = _summary(report, root)
    for line in lines:
        print(line, file=sys.stderr)
    return status


def _summary(report: BuildReport, root: Path, timings: bool = True) -> tuple[int, list[str]]:
    """What a build prints about itself, and its exit status."""
    from pipeline.model import Finding, shown_path

    lines = [str(finding) for finding in sorted(report.findings, key=Finding.sort_key)]
    if report.grades:
        grades = ", ".join(f"{Path(p).stem} {g:.1f}" for p, g in report.grades.items())
        lines.append(f"reading grade level: {grades}")
    shown = shown_path(report.output, root)
    stages = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in report.seconds.items())
    if report.cache_hits or report.cache_misses:
        stages += f"; {report.cache_hits} parts from the cache, {report.cache_misses} typeset"
    counts = f"{_count(report.errors, 'error')}, {_count(report.warnings, 'warning')}"
    if report.rejected:
        intended = shown_path(report.target or report.output, root)
        lines.append(
            f"booklet: {counts}: the PDF was not accepted. It is kept for inspection at "
            f"{shown}; {intended} still holds the last good build."
        )
        return 1, lines
    lines.append(
        f"booklet: {counts}; {shown}: {report.pages} pages, {report.chapters} chapters, "
        f"{report.bytes // 1024} KB" + (f" ({stages})" if timings else "")
    )
    if report.sheets:
        files = ", ".join(shown_path(p, root) for p in report.extras)
        lines.append(
            f"booklet: {report.edition}: {report.sheets} sheets, imposed for folding "
            f"({report.padding} blank page{'' if report.padding == 1 else 's'} added before "
            f"the back cover); also wrote {files}"
        )
    return 0, lines


def _print_findings(findings: list[Finding]) -> None:
    from pipeline.model import Finding

    for finding in sorted(findings, key=Finding.sort_key):
        print(finding, file=sys.stderr)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"



_COMMANDS = {
    "build": _build, "check": _check, "lint": _lint, "import": _import, "handouts": _handouts,
    "copies": _copies, "clean": _clean, "stop": _stop, "preview": _preview,
}
