"""Execute the notebooks of `notebooks/` and write the executed copies, outputs and figures included, to `docs/`.

The documentation site shows these copies (mkdocs-jupyter, never executing them during the build). Run after a
notebook changes (`python notebooks/make_notebooks.py` regenerates the sources), then commit `docs/notebooks/`:

    python docs/render_notebooks.py                  # every notebook, a few minutes on 2 cores
    python docs/render_notebooks.py 01_pulse_curves  # only the named ones

Each notebook runs in a fresh kernel, in a temporary directory that also receives its figures
(`NOTEBOOK_OUT_DIR`), so nothing is written in the repository but the copies. `tests/test_docs.py` fails when
a copy's cells differ from its source notebook.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import nbclient
import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "notebooks"
COPIES = ROOT / "docs" / "notebooks"
TIMEOUT_S = 600  # per cell
# Noise of the kernel's environment, not of the notebook: tqdm's warning that ipywidgets is missing.
NOISE = ("TqdmWarning: IProgress not found",)


def drop_noise(nb) -> None:
    """Remove stderr outputs that only carry environment noise (`NOISE`), in place."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr"
                                                            and any(n in o.text for n in NOISE))]


def render(name: str, out_dir: Path = COPIES) -> Path:
    """Execute one notebook of `notebooks/` and write its executed copy.

    Args:
        name: the notebook's file name, with or without `.ipynb`.
        out_dir: where the executed copy goes (`docs/notebooks/` by default).

    Returns:
        The path of the executed copy.

    Raises:
        ValueError: `name` is not a notebook of `notebooks/`.
    """
    source = SOURCES / (name if name.endswith(".ipynb") else f"{name}.ipynb")
    if not source.is_file():
        known = ", ".join(sorted(p.stem for p in SOURCES.glob("*.ipynb")))
        raise ValueError(f"`name` must be a notebook of {SOURCES}; got {name!r} (known: {known})")
    nb = nbformat.read(source, as_version=4)
    with tempfile.TemporaryDirectory(prefix="render-notebook-") as tmp:
        client = nbclient.NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3", record_timing=False,
                                         resources={"metadata": {"path": tmp}})
        client.execute(env={**os.environ, "NOTEBOOK_OUT_DIR": tmp})
    drop_noise(nb)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / source.name
    nbformat.write(nb, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebooks to render (default: every notebook of notebooks/)")
    args = parser.parse_args(argv)
    names = args.names or sorted(p.name for p in SOURCES.glob("*.ipynb"))
    for name in names:
        try:
            target = render(name)
        except ValueError as err:
            parser.error(str(err))
        print(f"wrote {target.relative_to(ROOT)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
