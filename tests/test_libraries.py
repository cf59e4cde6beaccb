"""WeasyPrint's C libraries, found from one reading of the linker's cache."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys

import pytest
from conftest import REPO

from pipeline.libraries import _linker_cache, from_list

# The names WeasyPrint tries (weasyprint/text/ffi.py), those found and those not.
NAMES = ["libgobject-2.0-0", "gobject-2.0-0", "gobject-2.0", "libpango-1.0-0", "pango-1.0",
         "libharfbuzz-0", "harfbuzz", "harfbuzz-subset", "fontconfig-1", "fontconfig",
         "pangoft2-1.0", "no-such-library-anywhere"]


@pytest.mark.skipif(_linker_cache() is None, reason="no ldconfig here")
def test_the_quick_lookup_finds_what_ctypes_finds_in_the_linker_cache() -> None:
    listing = _linker_cache()
    assert listing
    quick = from_list(listing)
    found = 0
    for name in NAMES:
        theirs = ctypes.util._findSoname_ldconfig(name)  # type: ignore[attr-defined]
        assert quick(name) == theirs, name
        found += theirs is not None
    assert found >= 4  # Pango and its friends are there, by their short names


def test_if_a_library_is_not_found_so_weasyprint_loads_the_slow_way() -> None:
    # Every library refused while the quick lookup is in place: WeasyPrint's
    # import fails, and it is imported again with ctypes' own lookup.
    script = (
        "import ctypes.util, cffi.api\n"
        "real = cffi.api.FFI.dlopen\n"
        "refused = []\n"
        "def flaky(self, name, flags=0):\n"
        "    if ctypes.util.find_library.__module__ == 'pipeline.libraries':\n"
        "        refused.append(name)\n"
        "        raise OSError('cannot load library ' + name)\n"
        "    return real(self, name, flags)\n"
        "cffi.api.FFI.dlopen = flaky\n"
        "import pipeline.libraries\n"
        "from weasyprint.text.ffi import pango\n"
        "print('loaded', pango is not None, bool(refused))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "loaded True True"
