"""What a command loads before its workers' server starts, and before it typesets.

The server loads WeasyPrint while this process loads the rest: the sooner it
starts, the sooner a one-chapter edit is typeset. So the command line loads
nothing heavy before it starts the server, and the build loads the code that
assembles and checks the PDF only once the parts are handed to the workers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ["weasyprint", "pikepdf", "pypdf", "pypdfium2", "fontTools.subset", "uharfbuzz",
         "PIL.Image"]


def loaded_after(statement: str) -> set[str]:
    script = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    return set(json.loads(result.stdout))


def test_the_command_line_loads_nothing_heavy_before_the_server_starts() -> None:
    loaded = loaded_after("import pipeline.cli, pipeline.server")
    assert not loaded & {*HEAVY, "pipeline.model", "pipeline.build", "pipeline.workers"}


def test_the_build_loads_assembling_and_checking_only_when_it_needs_them() -> None:
    loaded = loaded_after("import pipeline.build")
    assert not loaded & {"weasyprint", "pikepdf", "pypdf", "pypdfium2", "fontTools.subset",
                         "pipeline.assemble", "pipeline.check"}


def test_a_worker_loads_weasyprint_and_what_typesetting_needs_and_no_more() -> None:
    from pipeline.server import PRELOAD

    loaded = loaded_after("import " + ", ".join(PRELOAD))
    assert "weasyprint" in loaded
    # The PDF tools are loaded by the jobs that use them (furniture, the preflight).
    assert not loaded & {"pikepdf", "pypdfium2", "pipeline.workers", "pipeline.build"}


def test_commands_that_may_typeset_in_workers_leave_weasyprint_to_them() -> None:
    for module in ("pipeline.build", "pipeline.handouts", "pipeline.copies"):
        assert "weasyprint" not in loaded_after(f"import {module}"), module


def test_the_installed_command_freezes_what_is_left_before_python_exits(tmp_path: Path) -> None:
    # On its way out Python collects garbage over every live object, several
    # times: a quarter of a second after a build. Frozen objects are left out.
    script = ("import gc, sys\nfrom pipeline.cli import entry\n"
              f"status = entry(['-C', {str(tmp_path)!r}, 'clean'])\n"
              "print(status, gc.get_freeze_count() > 0)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ["0", "True"]
    from importlib.metadata import entry_points

    (command,) = [e for e in entry_points(group="console_scripts") if e.name == "booklet"]
    assert command.value == "pipeline.cli:entry"
