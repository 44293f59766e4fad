"""Pull/push progress, one line per blob, like Podman's; bars and rates only on a terminal.

On a terminal each blob gets a line that is redrawn in place (ANSI cursor movement) at most ten
times a second; on a pipe only the "Copying blob ..." lines are written, once, so logs stay clean.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1024
    return f"{n:.1f}GiB"


class Progress:
    def __init__(self, out: TextIO | None = None, quiet: bool = False) -> None:
        self.out = out or sys.stderr
        self.quiet = quiet
        self.tty = not quiet and self.out.isatty()
        self._lock = threading.Lock()
        self._rows: list[list] = []  # [label, done, total, started, finished]
        self._drawn = 0
        self._last = 0.0

    def line(self, text: str) -> None:
        if self.quiet:
            return
        with self._lock:
            self._flush_rows()
            self.out.write(text + "\n")
            self.out.flush()

    def blob(self, kind: str, digest: str, total: int) -> int:
        """Start a row; returns its handle for `advance`/`finish`."""
        with self._lock:
            label = f"Copying {kind} {digest.partition(':')[2][:12] if self.tty else digest}"
            self._rows.append([label, 0, total, time.monotonic(), False])
            if not self.quiet and not self.tty:
                self.out.write(label + "\n")
                self.out.flush()
            return len(self._rows) - 1

    def skipped(self, kind: str, digest: str) -> None:
        """A blob the destination already has (Podman: "skipped: already exists")."""
        if self.quiet:
            return
        shown = digest.partition(":")[2][:12] if self.tty else digest
        self.line(f"Copying {kind} {shown} skipped: already exists")

    def advance(self, row: int, n: int) -> None:
        if not self.tty:
            return
        with self._lock:
            self._rows[row][1] += n
            now = time.monotonic()
            if now - self._last >= 0.1:
                self._last = now
                self._draw()

    def finish(self, row: int) -> None:
        with self._lock:
            r = self._rows[row]
            r[4] = True
            r[1] = max(r[1], r[2])
            if self.tty:
                self._draw()

    def _render(self, r: list) -> str:
        label, done, total, started, finished = r
        if finished:
            return f"{label} done"
        rate = done / max(time.monotonic() - started, 1e-3)
        if total > 0:
            width = 24
            fill = min(width, int(width * done / total))
            bar = "=" * fill + (">" if fill < width else "") + " " * max(0, width - fill - 1)
            return f"{label} [{bar}] {_size(done)} / {_size(total)} | {_size(rate)}/s"
        return f"{label} {_size(done)} | {_size(rate)}/s"

    def _draw(self) -> None:
        if self._drawn:
            self.out.write(f"\x1b[{self._drawn}F")
        for r in self._rows:
            self.out.write("\x1b[2K" + self._render(r) + "\n")
        self._drawn = len(self._rows)
        self.out.flush()

    def _flush_rows(self) -> None:
        """Rows already drawn stay where they are; later lines go below them."""
        if self.tty and self._rows:
            self._draw()
        self._rows, self._drawn = [], 0
