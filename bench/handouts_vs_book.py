"""Time all handouts for three clinics against one full book build, in one run.

    .venv/bin/python bench/handouts_vs_book.py

Copies the project to a temporary folder, adds two more clinics beside the
example one, and prints the medians of three runs of each.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.build import build  # noqa: E402
from pipeline.handouts import build_handouts  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name in ("booklet.toml", "chapters", "styles", "clinics"):
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, root / name)
            else:
                shutil.copy(source, root / name)
        example = (root / "clinics" / "example.toml").read_text(encoding="utf-8")
        for other in ("second", "third"):
            (root / "clinics" / f"{other}.toml").write_text(
                example.replace("Example Oncology Clinic", f"{other.title()} Clinic"),
                encoding="utf-8",
            )
        build(root, source_date_epoch=1)  # warm the font cache, as a rebuild would
        book, handouts = [], []
        count = 0
        for _ in range(3):
            started = time.perf_counter()
            build(root, source_date_epoch=1)
            book.append(time.perf_counter() - started)
            started = time.perf_counter()
            count = len(build_handouts(root, everything=True, source_date_epoch=1).handouts)
            handouts.append(time.perf_counter() - started)
        b, h = statistics.median(book), statistics.median(handouts)
        print(f"full book build: {b:.2f} s; {count} handouts (3 clinics): {h:.2f} s "
              f"({h / b:.2f}x the book)")


if __name__ == "__main__":
    main()
