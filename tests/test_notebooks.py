"""The notebooks execute from top to bottom at their default sizes and write their figures.

Marked slow: each notebook compiles its own training programs in a fresh kernel, a few minutes in all on a
loaded 2-core machine. Run with `pytest -m slow tests/test_notebooks.py`.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install -e '.[test]')")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install -e '.[test]')")
pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install -e '.[test]')")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
FIGURES = {
    "01_pulse_curves.ipynb": ["01_pulse_curves.png"],
    "02_device_sweep.ipynb": ["02_tolerance.png", "02_convergence.png"],
    "03_train_on_crossbar_vs_float.ipynb": ["03_train_on_crossbar_vs_float.png"],
    "04_retention_and_drift.ipynb": ["04_retention_and_drift.png"],
    "05_three_factor_learning.ipynb": ["05_three_factor_learning.png"],
}
TIMEOUT_S = 400  # per cell


def _execute(name: str, out_dir: Path) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(out_dir)}})
    client.execute(env={**os.environ, "NOTEBOOK_OUT_DIR": str(out_dir)})


def test_notebooks_match_their_list():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(FIGURES)
    for name in FIGURES:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1 and "NOTEBOOK_OUT_DIR" in params[0].source, name


@pytest.mark.slow
def test_notebooks_execute_and_write_figures(tmp_path):
    dirs = {name: tmp_path / name.removesuffix(".ipynb") for name in FIGURES}
    for d in dirs.values():
        d.mkdir()
    # The kernels are separate processes: running two side by side overlaps their start-up and compilation.
    with ThreadPoolExecutor(2) as pool:
        futures = {name: pool.submit(_execute, name, d) for name, d in dirs.items()}
        for name, fut in futures.items():
            try:
                fut.result()
            except nbclient.exceptions.CellExecutionError as err:
                pytest.fail(f"{name} failed:\n{err}")
    for name, figures in FIGURES.items():
        for fig in figures:
            path = dirs[name] / fig
            assert path.exists() and path.stat().st_size > 10_000, f"{name} did not write {fig}"
