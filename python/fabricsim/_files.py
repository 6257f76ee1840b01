"""Writing result files safely: atomically (a temporary file in the same folder, then a rename),
so that an interrupted or failed write never leaves half a file or destroys the old one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` to produce the file, then rename it onto ``path``."""
    dest = Path(path).expanduser()
    fd, tmp = tempfile.mkstemp(
        prefix=f".{dest.name}.",
        suffix=dest.suffix or ".tmp",
        dir=dest.parent if str(dest.parent) else ".",
    )
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); give it the mode a plain open() would (0666
        # less the umask), or the old file's mode when it replaces one.
        if dest.exists():
            os.chmod(tmp, dest.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)

    write_atomic(path, write)
