"""booklet: Markdown chapters -> a print-ready guide (see pipeline/build.py)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

__version__ = "0.1.0"


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of the pipeline's own source: new code never reuses old results.

    (Here, so that what asks for it before a command's work starts, the
    fresh check and the workers' server, loads nothing else.)
    """
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
