"""Progress output of builds and pushes: plain lines, one live line per step on a terminal, or nothing."""

from __future__ import annotations

import re
import shutil
from typing import Callable, TextIO


def _same(text: str) -> str:
    return text


class Display:
    """Progress output: ``plain`` writes lines; ``tty`` keeps one updating line per step; ``quiet`` nothing.

    Every text goes through ``redact`` before it is cut to the terminal's width or written."""

    def __init__(self, out: TextIO | None, mode: str, redact: Callable[[str], str] = _same):
        self.out = out
        self.mode = mode if out is not None else "quiet"
        self.redact = redact
        self._open = False
        self._title = ""

    def _width(self) -> int:
        return max(20, shutil.get_terminal_size((100, 20)).columns - 1)

    def _write(self, text: str) -> None:
        try:
            self.out.write(text)  # type: ignore[union-attr]
            self.out.flush()  # type: ignore[union-attr]
        except (OSError, ValueError):  # a closed pipe must not fail the build
            self.mode = "quiet"

    def raw(self, line: str) -> None:
        """A line exactly as the builder printed it (plain mode only)."""
        if self.mode == "plain":
            self._write(self.redact(line) + "\n")

    def step(self, title: str) -> None:
        """A new step: plain prints it; tty starts a new live line."""
        title = self.redact(title)
        if self.mode == "plain":
            self._write(title + "\n")
        elif self.mode == "tty":
            if self._open:
                self._write("\n")
            self._title = title
            self._open = True
            self._write(title[: self._width()])

    def detail(self, text: str, plain: bool = True) -> None:
        """Progress inside the current step: plain prints it (unless ``plain`` is False); tty rewrites the line."""
        text = self.redact(text)
        if self.mode == "plain":
            if plain:
                self._write(text + "\n")
        elif self.mode == "tty":
            line = f"{self._title}  {text}" if self._title else text
            self._write("\r\x1b[K" + line[: self._width()])
            self._open = True

    def line(self, text: str) -> None:
        """A permanent line (both modes)."""
        if self.mode == "quiet":
            return
        self.close()
        self._write(self.redact(text) + "\n")

    def close(self) -> None:
        if self.mode == "tty" and self._open:
            self._write("\n")
        self._open = False
        self._title = ""


class BuildKitRenderer:
    """Turns BuildKit's ``--progress=plain`` lines into the display: one step per vertex (``#N``)."""

    _LINE = re.compile(r"^#(\d+) (.*)$")

    def __init__(self, display: Display):
        self.display = display
        self.seen: set[str] = set()
        self.current: str | None = None

    def feed(self, line: str) -> None:
        d = self.display
        if d.mode == "plain":
            d.raw(line)
            return
        if d.mode != "tty":
            return
        m = self._LINE.match(line)
        if not m:
            if line.strip() and not line.startswith("------"):
                d.detail(line.strip())
            return
        num, rest = m.groups()
        if rest.startswith("sha256:"):
            return
        if num not in self.seen:
            self.seen.add(num)
            self.current = num
            d.step(rest)
            return
        text = re.sub(r"^\d+\.\d+ ", "", rest)
        d.detail(text if num == self.current else f"#{num} {text}")
