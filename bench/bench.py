"""Benchmark: our build against one WeasyPrint pass over the same book.

    make bench                       # ~120 pages, medians of 3, plus one 480-page run
    .venv/bin/python bench/bench.py --chapters 3 --runs 1 --no-big --no-copies   # smoke

Each measurement runs in a fresh Python process (so memory is measured per
step, and no step warms another's caches by accident). The peer, our
builds and the copies (a, c-g) run in rounds, each step once a round,
medians over the rounds: this machine's speed drifts from minute to
minute, and a ratio should compare figures taken over the same minutes.

  a  the same book's HTML typeset in one WeasyPrint write_pdf pass (the peer)
  b  pandoc with WeasyPrint as its PDF engine (skipped when pandoc is missing)
  c  our full build from an empty cache, with no workers' server kept warm (a
     cold start); c' the same with the server warm, as after an edit to the
     stylesheet that every part depends on
  d  our rebuild with nothing changed
  e  our rebuild after editing one paragraph in a middle chapter (a word of it
     changed); e' the same with a paragraph added instead, which moves what
     follows (here a heading onto another page: the contents change too)
  f  our rebuild after an edit that changes that chapter's page count
  g  one handout; 100 complimentary copies

Prints a table with each figure as a ratio to (a), and writes
output/bench.json. Targets (from the issue) are shown next to the ratios;
nothing here asserts them: they are for people to read.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.synthetic import write_book  # noqa: E402
from pipeline import server  # noqa: E402

TARGETS = {"c": 0.70, "d": 0.05, "e": 0.20, "f": 0.35}
STEP = """
import json, os, resource, sys, threading, time
from pathlib import Path
sys.path.insert(0, {repo!r})
root = Path({root!r})
from pipeline.server import running
peaks = {{}}  # process id -> (peak RSS in kB, CPU seconds), of every process below this one
stop = threading.Event()

def family():
    parent_of = {{}}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{{entry}}/stat") as stat:
                    parent_of[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    # The workers' server kept warm forks this build's workers.
    mine, grew = {{os.getpid(), *running()}}, True
    while grew:
        below = {{pid for pid, parent in parent_of.items() if parent in mine}} - mine
        mine |= below
        grew = bool(below)
    return mine - {{os.getpid()}}

pss = [0]  # the largest sum, at one sampling, of every process's proportional set size

def watch():
    while True:
        total = 0
        for pid in family() | {{os.getpid()}}:
            try:
                with open(f"/proc/{{pid}}/smaps_rollup") as rollup:
                    total += next(int(line.split()[1]) for line in rollup
                                  if line.startswith("Pss:"))
            except (OSError, StopIteration, IndexError, ValueError):
                pass
            if pid == os.getpid():
                continue
            try:
                with open(f"/proc/{{pid}}/status") as status:
                    hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
                with open(f"/proc/{{pid}}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
                # (A server kept warm from an earlier step: only this step's CPU.)
                cpu -= before.setdefault(pid, cpu) if pid in warm else 0
                peaks[pid] = (max(hwm, peaks.get(pid, (0, 0))[0]), cpu)
            except (OSError, StopIteration, IndexError, ValueError):
                pass
        pss[0] = max(pss[0], total)
        if stop.wait(0.1):
            return

warm = set(running())  # processes there before this step: the server kept warm
before = {{}}  # their CPU seconds when first sampled
threading.Thread(target=watch, daemon=True).start()
started = time.perf_counter()
{code}
seconds = time.perf_counter() - started
stop.set()
me = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"seconds": seconds,
    "rss_kb": me.ru_maxrss,
    # Every process below this one (workers, their server): the sum of their
    # peaks, sampled every 0.1 s (a peak is the kernel's, whenever it was);
    # their CPU time as last sampled, so a little under the truth.
    "children_rss_kb": sum(peak for peak, _ in peaks.values()),
    # The same processes' memory with what they share (a forked worker shares
    # its server's pages) counted once, as the sum of their proportional set
    # sizes, at its largest over the samples.
    "pss_kb": pss[0],
    "processes": len(peaks),
    "cpu_seconds": me.ru_utime + me.ru_stime + sum(cpu for _, cpu in peaks.values()),
    "extra": extra}}))
"""
CODE = {
    "a": "from pipeline.build import build_single_pass\n"
         "pdf, pages = build_single_pass(root)\n"
         "(root / 'single.pdf').write_bytes(pdf)\n"
         "extra = {'pages': pages, 'bytes': len(pdf)}",
    # Our build as the author runs it (`make booklet` is `booklet build`).
    "build": "import contextlib, io\n"
             "from pipeline.cli import main\n"
             "said = io.StringIO()\n"
             "with contextlib.redirect_stderr(said):\n"
             "    status = main(['-C', str(root), '-q', 'build'])\n"
             "data = json.loads((root / 'output' / 'check.json').read_text())\n"
             "extra = {'pages': data['pages'], 'status': status,"
             " 'bytes': (root / 'output' / 'guide.pdf').stat().st_size,"
             " 'rejected': data['rejected'], 'cache': data['cache'],"
             " 'fresh': 'nothing changed since the last build' in said.getvalue()}",
    "g1": "from pipeline.handouts import build_handouts\n"
          "r = build_handouts(root, chapter='{chapter}', source_date_epoch=1)\n"
          "extra = {'handouts': len(r.handouts)}",
    # As a volunteer runs it (`make copies` is `booklet copies`).
    "g100": "import contextlib, io\n"
            "from pipeline.cli import main\n"
            "with contextlib.redirect_stderr(io.StringIO()):\n"
            "    status = main(['-C', str(root), '-q', 'copies', str(root / 'requests.csv'),"
            " '--batch', 'bench'])\n"
            "extra = {'status': status,"
            " 'done': len(list((root / 'output' / 'copies' / 'bench').glob('R*.pdf')))}",
}


def step(root: Path, code: str) -> dict[str, object]:
    script = STEP.format(repo=str(REPO), root=str(root), code=code)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def median_step(root: Path, code: str, runs: int, before: object = None) -> dict[str, object]:
    return in_rounds(root, {"step": (code, before)}, runs)["step"]


def in_rounds(root: Path, steps: dict[str, tuple[str, object]], runs: int
              ) -> dict[str, dict[str, object]]:
    """Each step's median over `runs` rounds, each round running every step once.

    On a shared machine the speed drifts from minute to minute; in rounds, a
    slow minute falls on all the steps alike, not on whichever ran then.
    """
    results: dict[str, list[dict[str, object]]] = {name: [] for name in steps}
    for _ in range(runs):
        for name, (code, before) in steps.items():
            if callable(before):
                before()
            results[name].append(step(root, code))
    return {name: _median(found) for name, found in results.items()}


def _median(results: list[dict[str, object]]) -> dict[str, object]:
    seconds = statistics.median(float(r["seconds"]) for r in results)  # type: ignore[arg-type]
    cpu = statistics.median(float(r["cpu_seconds"]) for r in results)  # type: ignore[arg-type]
    worst = max(results, key=lambda r: int(r["rss_kb"]) + int(r["children_rss_kb"]))  # type: ignore[call-overload]
    return {**worst, "seconds": seconds, "cpu_seconds": cpu,
            "runs": [r["seconds"] for r in results]}


def clean_cache(root: Path) -> None:
    shutil.rmtree(root / "output" / ".cache", ignore_errors=True)


def measure(root: Path, runs: int, copies: bool) -> dict[str, dict[str, object]]:
    chapters = sorted((root / "chapters").glob("*.md"))
    middle = chapters[len(chapters) // 2]
    original = middle.read_text(encoding="utf-8")
    out: dict[str, dict[str, object]] = {}
    out["b"] = {"skipped": "pandoc not installed"} if shutil.which("pandoc") is None else (
        _pandoc(root, runs))
    edits = itertools.count()  # each run's edit is new: never in the cache already

    def paragraph_edit() -> None:  # a word of a paragraph changed, as an author edits
        middle.write_text(original, encoding="utf-8")
        step(root, CODE["build"])  # the cache holds the original
        middle.write_text(reworded(original, next(edits)), encoding="utf-8")

    def paragraph_added() -> None:  # a line added: what follows moves, maybe a heading
        middle.write_text(original, encoding="utf-8")
        step(root, CODE["build"])
        line = f"An edited line, edit {next(edits)}."
        middle.write_text(original.replace("## Section 2", f"## Section 2\n\n{line}", 1)
                          if "## Section 2" in original else original + f"\n{line}\n",
                          encoding="utf-8")

    def long_edit() -> None:
        middle.write_text(original, encoding="utf-8")
        step(root, CODE["build"])
        extra = "\n\n".join([f"A new paragraph that makes this chapter longer ({next(edits)}). "
                             * 6] * 12)
        middle.write_text(original + "\n\n" + extra + "\n", encoding="utf-8")

    def as_it_was() -> None:  # the book without this round's edits
        middle.write_text(original, encoding="utf-8")

    def empty_cache() -> None:  # and no workers' server kept warm: a cold start
        as_it_was()
        clean_cache(root)
        server.stop(wait=10)

    def empty_cache_warm() -> None:  # as after an edit to the stylesheet: all typeset again
        as_it_was()
        step(root, CODE["build"])  # the server kept warm (started by the cold build, or this)
        clean_cache(root)

    def unchanged() -> None:  # the book as it was, built once
        as_it_was()
        step(root, CODE["build"])

    # In rounds: the peer and each of ours once a round (each ratio compares
    # figures taken over the same minutes).
    def peer_alone() -> None:  # no workers' server of ours loading anything meanwhile
        as_it_was()
        server.stop(wait=10)

    steps: dict[str, tuple[str, object]] = {
        "a": (CODE["a"], peer_alone),
        "c": (CODE["build"], empty_cache),
        "c_warm": (CODE["build"], empty_cache_warm),
        "d": (CODE["build"], unchanged),
        "e": (CODE["build"], paragraph_edit),
        "e_added": (CODE["build"], paragraph_added),
        "f": (CODE["build"], long_edit),
    }
    if copies:
        _requests(root)

        def new_batch() -> None:
            shutil.rmtree(root / "output" / "copies", ignore_errors=True)

        def warm_batch() -> None:  # the edition built and up to date: reused
            unchanged()
            new_batch()

        def cold_batch() -> None:  # the batch typesets its edition itself
            empty_cache()
            new_batch()
            (root / "output" / "guide.pdf").unlink(missing_ok=True)
            shutil.rmtree(root / "output" / "editions", ignore_errors=True)

        steps["g_copies"] = (CODE["g100"], warm_batch)
        steps["g_copies_cold"] = (CODE["g100"], cold_batch)
    out.update(in_rounds(root, steps, runs))
    unchanged()
    first = chapters[0].stem.split("-", 1)[1]
    out["g_handout"] = median_step(root, CODE["g1"].replace("{chapter}", first), runs)
    return out


def reworded(text: str, edit: int) -> str:
    """`text` with one word of its middle paragraph changed (a new word for each `edit`)."""
    lines = text.split("\n")
    prose = [i for i, line in enumerate(lines)
             if len(line.split()) >= 8 and line[:1].isalpha() and line[:1].isupper()]
    if not prose:
        raise SystemExit("benchmark: no paragraph to edit in the middle chapter")
    index = prose[len(prose) // 2]
    words = lines[index].split(" ")
    words[3] = f"edited{edit}"
    lines[index] = " ".join(words)
    return "\n".join(lines)


def _pandoc(root: Path, runs: int) -> dict[str, object]:
    code = ("import subprocess, glob\n"
            "files = sorted(glob.glob(str(root / 'chapters' / '*.md')))\n"
            "subprocess.run(['pandoc', *files, '--pdf-engine=weasyprint', '-o',"
            " str(root / 'pandoc.pdf')], check=True)\n"
            "extra = {'bytes': (root / 'pandoc.pdf').stat().st_size}")
    return median_step(root, code, runs)


def _requests(root: Path) -> None:
    lines = ["request_id,name,address,city,country,copies"]
    lines += [f"R{n:03d},Ann Example,{n} Example Road,Springfield,US,1" for n in range(100)]
    (root / "requests.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def report(results: dict[str, dict[str, object]], title: str) -> list[str]:
    base = float(results["a"]["seconds"])  # type: ignore[arg-type]
    lines = [title, f"{'step':<34}{'seconds':>9}{'x (a)':>8}{'target':>8}{'RSS MB':>9}"
                    f"{'PSS MB':>9}{'CPU s':>8}"]
    labels = {
        "a": "a one WeasyPrint pass (peer)", "b": "b pandoc + WeasyPrint",
        "c": "c full build, empty cache", "c_warm": "c' the same, server warm",
        "d": "d rebuild, nothing changed",
        "e": "e rebuild, one paragraph edited",
        "e_added": "e' rebuild, a paragraph added", "f": "f rebuild, page count changed",
        "g_handout": "g one handout", "g_copies": "g 100 copies (edition built)",
        "g_copies_cold": "g 100 copies (edition typeset too)",
    }
    for key, label in labels.items():
        if key not in results:
            continue
        r = results[key]
        if "skipped" in r:
            lines.append(f"{label:<34}  skipped: {r['skipped']}")
            continue
        seconds = float(r["seconds"])  # type: ignore[arg-type]
        rss = (int(r["rss_kb"]) + int(r["children_rss_kb"])) / 1024  # type: ignore[call-overload]
        target = f"<={TARGETS[key]:.2f}" if key in TARGETS else ""
        pss = int(r.get("pss_kb", 0)) / 1024  # type: ignore[call-overload]
        shown = f"{pss:>9.0f}" if pss else f"{'-':>9}"  # (over before a sample was taken)
        cpu = float(r.get("cpu_seconds", 0.0))  # type: ignore[arg-type]
        lines.append(f"{label:<34}{seconds:>9.2f}{seconds / base:>8.2f}{target:>8}{rss:>9.0f}"
                     f"{shown}{cpu:>8.1f}")
    spread = _per_round(results)
    if spread:
        lines.append("per round, x (a): " + spread)
    build = float(results["c"]["seconds"])  # type: ignore[arg-type]
    copies = [f"{label} {float(results[key]['seconds']) / build:.2f}x"  # type: ignore[arg-type]
              for key, label in (("g_copies", "edition built"),
                                 ("g_copies_cold", "edition typeset too")) if key in results]
    if copies:
        lines.append("100 copies / full build (c): " + ", ".join(copies) + " (target <=1.5)")
    a, c = results["a"]["extra"], results["c"]["extra"]
    lines.append(f"pages: one pass {a['pages']}, ours {c['pages']}; size: one pass "  # type: ignore[index]
                 f"{a['bytes']} B, ours {c['bytes']} B "  # type: ignore[index]
                 f"({int(c['bytes']) / int(a['bytes']):.2f}x, target <=1.15)")  # type: ignore[index,call-overload]
    return lines


def _per_round(results: dict[str, dict[str, object]]) -> str:
    """Each round's ratio of each step with a target to the same round's peer: the
    spread that the medians hide ("" after one round)."""
    peer = [float(x) for x in results["a"].get("runs", [])]  # type: ignore[attr-defined]
    shown = []
    for key, result in results.items():
        runs = [float(x) for x in result.get("runs", [])]  # type: ignore[attr-defined]
        if key in TARGETS and len(runs) == len(peer) > 1:
            shown.append(f"{key} " + " ".join(f"{ours / theirs:.2f}"
                                              for ours, theirs in zip(runs, peer, strict=True)))
    return "; ".join(shown)


@contextlib.contextmanager
def _servers_of_its_own(folder: Path) -> Iterator[None]:
    """The workers' servers kept warm by the benchmark's builds: its own, stopped after."""
    run = folder / "run"
    run.mkdir(mode=0o700)
    before = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(run)
    try:
        yield
    finally:
        server.stop(wait=10)
        if before is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = before


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapters", type=int, default=20)
    parser.add_argument("--paragraphs", type=int, default=21)  # about 120 pages
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-big", action="store_true", help="skip the 480-page run")
    parser.add_argument("--no-copies", action="store_true", help="skip 100 copies")
    parser.add_argument("--output", type=Path, default=REPO / "output" / "bench.json")
    args = parser.parse_args(argv)
    data: dict[str, object] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with tempfile.TemporaryDirectory() as folder, _servers_of_its_own(Path(folder)):
        root = write_book(Path(folder) / "book", args.chapters, args.paragraphs)
        results = measure(root, args.runs, not args.no_copies)
        data["book"] = results
        print("\n".join(report(results, f"{args.chapters} chapters, medians of {args.runs}")))
    if not args.no_big:
        with tempfile.TemporaryDirectory() as folder, _servers_of_its_own(Path(folder)):
            root = write_book(Path(folder) / "big", args.chapters * 4, args.paragraphs)
            big = {"a": step(root, CODE["a"]), "c": step(root, CODE["build"])}
            data["big"] = big
            print("\n".join(report(big, f"{args.chapters * 4} chapters, one run")))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
