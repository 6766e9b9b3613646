"""Atomic files: every write goes to a temporary file in the same directory and is renamed over the target.

An interrupted write (Ctrl-C, a crash, a full disk) leaves the previous file intact and no partial one. The
lowest layer of the package (devices, crossbar and the experiments all write through it).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path, write) -> None:
    """Call `write(binary_file)` on a temporary file next to `path`, then rename it over `path`.

    Readers never see a partial file, and an interrupted write leaves the previous one intact. The parent
    directory is created if missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_figure(fig, path, dpi: int = 120) -> Path:
    """Save the matplotlib figure `fig` as a PNG at `path`, atomically, and close it."""
    import matplotlib.pyplot as plt  # only where a figure is saved

    path = Path(path)
    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi))
    finally:
        plt.close(fig)
    return path
