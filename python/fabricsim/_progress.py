"""A dependency-free progress bar for long sweeps (stderr, redrawn in place)."""

from __future__ import annotations

import sys
import time
from typing import Any


class ProgressBar:
    def __init__(self, total: int, desc: str = "", file=None, width: int = 30):
        self.total, self.desc, self.width = max(1, total), desc, width
        self.file = file or sys.stderr
        self.n = 0
        self.t0 = time.perf_counter()
        self._draw()

    def update(self, k: int = 1) -> None:
        self.n = min(self.total, self.n + k)
        self._draw()

    def _draw(self) -> None:
        frac = self.n / self.total
        done = int(frac * self.width)
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        self.file.write(
            f"\r{self.desc} [{'#' * done}{'.' * (self.width - done)}] {self.n}/{self.total}"
            f" {elapsed:5.1f}s elapsed, ~{eta:5.1f}s left"
        )
        self.file.flush()

    def close(self) -> None:
        self.file.write("\n")
        self.file.flush()


def progress_bar(total: int, desc: str = "") -> Any:
    """A progress bar for ``progress=True`` in the API: ``tqdm.auto`` when tqdm is installed
    (a widget in Jupyter, text on a terminal), else :class:`ProgressBar`. Both have
    ``update(k)`` and ``close()``."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return ProgressBar(total, desc)
    return tqdm(total=total, desc=desc)
