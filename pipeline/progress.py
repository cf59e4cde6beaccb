"""Progress of a command that takes a while: its stage, and n of N pieces of work done.

A stage's name and each finished piece of work come in; out goes, on a
terminal, one line that updates in place ("booklet: typeset 3/12 parts:
skin-metastasis"), and anywhere else (CI, a log file) one plain line per
finished piece ("typeset skin-metastasis (3/12)"). Stage names alone print
only on a terminal, so a build that stops early on an author's mistake still
prints that mistake first.

Progress is shown, never kept: it goes to a stream (stderr), changes no file,
and a build with or without it writes the same bytes. A Progress without a
stream shows nothing; that is the default everywhere except in the command.
"""

from __future__ import annotations

import shutil
from typing import TextIO

_ERASE = "\r\x1b[K"  # back to the start of the line, erase it


class Progress:
    """Where a long command is. Pass it down explicitly; it holds no global state."""

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.stream = stream
        self.tty = stream is not None and (stream.isatty() if tty is None else tty)
        self._stage = ""
        self._shown = False  # a terminal line is on screen and must be erased first

    def stage(self, name: str) -> None:
        """A stage begins."""
        self._stage = name
        if self.tty:
            self._show(f"booklet: {name}…")

    def advance(self, verb: str, done: int, total: int, item: str = "", noun: str = "parts",
                every: int = 1) -> None:
        """`done` of `total` pieces of work are finished; `item` is the one just finished.

        Without a terminal only every `every`-th piece (and the last) gets a line.
        """
        if self.stream is None:
            return
        if self.tty:
            self._show(f"booklet: {verb} {done}/{total} {noun}" + (f": {item}" if item else ""))
        elif done % every == 0 or done == total:
            named = f"{verb} {item}" if item else verb
            self.stream.write(f"{named} ({done}/{total})\n")
            self.stream.flush()

    def clear(self) -> None:
        """Erase the terminal line, before other output or when the work is done."""
        if self._shown and self.stream is not None:
            self.stream.write(_ERASE)
            self.stream.flush()
            self._shown = False

    def _show(self, text: str) -> None:
        assert self.stream is not None
        width = shutil.get_terminal_size((80, 24)).columns - 1
        if len(text) > width:
            text = text[: max(0, width - 1)] + "…"
        self.stream.write(_ERASE + text)
        self.stream.flush()
        self._shown = True
