"""Loads WeasyPrint, finding its C libraries in the linker's cache (read once).

WeasyPrint tries several names for each C library it needs (GObject, Pango,
HarfBuzz, Fontconfig...). cffi hands every name that does not load as it is
to ctypes' `find_library`, which on Linux runs `ldconfig -p`, then gcc, then
ld, for each: 26 lookups, a third of a second of WeasyPrint's import on this
machine, most of it for names that are not found. Here `ldconfig -p` runs
once and each name is looked up in its list the way `find_library` does
first; a name not in the list is not found, and WeasyPrint tries its next
name. Should that leave WeasyPrint unable to load a library at all, it is
imported again with ctypes' own lookup.

The workers' server imports this module first (workers.py), so every worker
starts with WeasyPrint loaded. Importing it anywhere is harmless.
"""

from __future__ import annotations

import ctypes.util
import io
import os
import re
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout

LDCONFIG = "/sbin/ldconfig"
# find_library's own mapping of machine to the ABI that ldconfig -p prints.
ABI = {"x86_64-64": "libc6,x86-64", "ppc64-64": "libc6,64bit", "sparc64-64": "libc6,64bit",
       "s390x-64": "libc6,64bit", "ia64-64": "libc6,IA-64"}


def _linker_cache() -> bytes | None:
    if not sys.platform.startswith("linux") or not os.access(LDCONFIG, os.X_OK):
        return None
    try:
        return subprocess.run([LDCONFIG, "-p"], stdin=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              env={"LC_ALL": "C", "LANG": "C"}, check=False,
                              timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def from_list(listing: bytes) -> Callable[[str], str | None]:
    """A find_library that answers from one `ldconfig -p` listing."""
    machine = os.uname().machine + ("-32" if struct.calcsize("l") == 4 else "-64")
    abi = ABI.get(machine, "libc6")

    def find_library(name: str) -> str | None:
        pattern = os.fsencode(rf"\s+(lib{re.escape(name)}\.[^\s]+)\s+\({abi}")
        found = re.search(pattern, listing)
        return os.fsdecode(found.group(1)) if found else None

    return find_library


@contextmanager
def libraries_from(listing: bytes | None) -> Iterator[None]:
    if listing is None:
        yield
        return
    original = ctypes.util.find_library
    ctypes.util.find_library = from_list(listing)
    try:
        yield
    finally:
        ctypes.util.find_library = original


def load_weasyprint() -> None:
    if "weasyprint.text.ffi" in sys.modules:
        return
    try:
        # (WeasyPrint prints how to install Pango when it cannot load it: not yet.)
        with libraries_from(_linker_cache()), redirect_stdout(io.StringIO()):
            import weasyprint.text.ffi
    except OSError:  # a library the listing lacks: ctypes' full lookup, as WeasyPrint would
        for name in [m for m in sys.modules if m == "weasyprint" or m.startswith("weasyprint.")]:
            del sys.modules[name]
    import weasyprint  # noqa: F401


load_weasyprint()
