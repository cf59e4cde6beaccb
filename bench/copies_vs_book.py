"""Time 100 complimentary copies against one full book build, in one run.

    .venv/bin/python bench/copies_vs_book.py [REPEAT | synthetic]

REPEAT (default 1) makes the book bigger by repeating the starter's skin
chapter that many times; `synthetic` uses the benchmark's book of about 120
pages (bench/synthetic.py), a guide of realistic length.

In a temporary copy of the project: (a) one full build of the default
edition, with no typeset parts cached; (b) 100 requests (invented names, all
US: the default Letter edition) with no parts cached, which typesets that
edition once inside the batch; (c) the same 100 again into a new batch with
the edition already built.
"""

from __future__ import annotations

import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.synthetic import write_book  # noqa: E402
from pipeline.build import build  # noqa: E402
from pipeline.copies import make_copies  # noqa: E402

NAMES = ["Ann Example", "Zoë Sample", "Łukasz Testowy", "Иван Образцов", "Αλέξης Δοκιμή"]


def clean_parts(root: Path) -> None:
    """Forget typeset parts (keep the trimmed fonts), so nothing is reused by accident."""
    shutil.rmtree(root / "output" / ".cache" / "parts", ignore_errors=True)


def copy_starter(root: Path, repeat: int) -> None:
    """The starter guide, its skin chapter repeated `repeat` times."""
    for name in ("booklet.toml", "chapters", "styles"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / name)
    skin = (root / "chapters" / "03-skin-metastasis.md").read_text(encoding="utf-8")
    extra = []
    for n in range(2, repeat + 1):
        (root / "chapters" / f"03-skin-{n}.md").write_text(
            skin.replace("title: Skin metastasis", f"title: Skin metastasis ({n})"),
            encoding="utf-8")
        extra.append(f'"03-skin-{n}.md",')
    config = (root / "booklet.toml").read_text(encoding="utf-8")
    config = config.replace('"03-skin-metastasis.md",',
                            '"03-skin-metastasis.md", ' + " ".join(extra))
    (root / "booklet.toml").write_text(config, encoding="utf-8")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        if sys.argv[1:] == ["synthetic"]:
            write_book(root, 20, 21)
        else:
            copy_starter(root, int(sys.argv[1]) if len(sys.argv) > 1 else 1)
        with (root / "requests.csv").open("w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(["request_id", "name", "address", "city", "country", "copies"])
            for n in range(100):
                writer.writerow([f"R{n:03d}", NAMES[n % len(NAMES)], f"{n} Example Road",
                                 "Springfield", "US", 1])
        build(root, output=root / "warm.pdf", source_date_epoch=1)  # fonts trimmed once
        clean_parts(root)
        started = time.perf_counter()
        build(root, output=root / "book.pdf", source_date_epoch=1)
        book = time.perf_counter() - started
        clean_parts(root)  # the batch typesets its edition from scratch
        started = time.perf_counter()
        cold = make_copies(root, root / "requests.csv", "cold", source_date_epoch=1)
        cold_s = time.perf_counter() - started
        started = time.perf_counter()
        make_copies(root, root / "requests.csv", "warm", source_date_epoch=1)
        warm_s = time.perf_counter() - started
        pages = len(__import__("pypdf").PdfReader(root / "book.pdf").pages)
        print(f"one full book build ({pages} pages): {book:.2f} s")
        print(f"100 copies, edition typeset in the batch: {cold_s:.2f} s "
              f"({cold_s / book:.2f}x); done {cold.count('done')}")
        print(f"100 copies, edition already built: {warm_s:.2f} s ({warm_s / book:.2f}x)")


if __name__ == "__main__":
    main()
