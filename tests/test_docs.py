"""The executed notebook copies the documentation shows (`docs/notebooks/`) match their sources in `notebooks/`.

`docs/render_notebooks.py` writes the copies; a notebook changed without rerunning it leaves a stale copy, which
these tests catch (fast: they read the files, nothing is executed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install -e '.[test]')")

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "notebooks"
COPIES = ROOT / "docs" / "notebooks"
NAMES = sorted(p.name for p in SOURCES.glob("*.ipynb"))


def _cells(nb) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def test_every_notebook_has_a_copy_and_no_copy_is_orphaned():
    assert NAMES, f"no notebooks in {SOURCES}"
    assert sorted(p.name for p in COPIES.glob("*.ipynb")) == NAMES, (
        "docs/notebooks/ must hold one executed copy per notebook of notebooks/: run python docs/render_notebooks.py")


@pytest.mark.parametrize("name", NAMES)
def test_copy_has_the_cells_of_its_source(name):
    source = nbformat.read(SOURCES / name, as_version=4)
    copy = nbformat.read(COPIES / name, as_version=4)
    src, cp = _cells(source), _cells(copy)
    assert len(cp) == len(src), f"{name}: {len(cp)} cells in the copy, {len(src)} in the source; rerun " \
                                f"python docs/render_notebooks.py {name}"
    for i, (a, b) in enumerate(zip(src, cp, strict=True)):
        assert a == b, f"{name}: cell {i} differs from its source; rerun python docs/render_notebooks.py {name}"


@pytest.mark.parametrize("name", NAMES)
def test_copy_is_executed_with_figures_and_no_errors(name):
    copy = nbformat.read(COPIES / name, as_version=4)
    code = [cell for cell in copy.cells if cell.cell_type == "code"]
    assert code and all(cell.execution_count is not None for cell in code), f"{name}: a code cell was not run"
    outputs = [out for cell in code for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"], f"{name}: a cell raised"
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert images, f"{name}: no figure in the outputs"


def test_the_readme_stays_short_and_speaks_of_the_project_alone():
    """A README under 200 lines (the rest lives in the documentation), with no path outside the repository."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) < 200
    assert "../shared" not in text and "/work/" not in text


def _documented_args(doc: str) -> list[str]:
    """The parameter names of a Google-style docstring's `Args:` section, as the API pages' parser reads them."""
    lines = doc.expandtabs().splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == "Args:"]
    if not starts:
        return []
    start = starts[0]
    names, item_indent = [], None
    for line in lines[start + 1:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if item_indent is None:
            item_indent = indent
        if indent < item_indent:
            break
        if indent == item_indent and ":" in line:
            names.append(line.strip().split(":", 1)[0].split(" (", 1)[0].lstrip("*"))
    return names


def test_every_documented_parameter_is_in_its_signature():
    """The strict documentation build fails on an `Args:` entry that is not a parameter (e.g. `a, b: ...`)."""
    import importlib
    import inspect
    import pkgutil

    bad = []
    for package_name in ("devices", "crossbar"):
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, package_name + "."):
            module = importlib.import_module(info.name)
            for name, obj in vars(module).items():
                members = [(name, obj)]
                if inspect.isclass(obj):
                    members += [(f"{name}.{k}", v) for k, v in vars(obj).items() if inspect.isfunction(v)]
                for qualified, fn in members:
                    fn = getattr(fn, "__wrapped__", fn)
                    if not inspect.isfunction(fn) or fn.__module__ != info.name or not fn.__doc__:
                        continue
                    params = inspect.signature(fn).parameters
                    if any(p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in params.values()):
                        continue
                    bad += [f"{info.name}.{qualified}: {arg!r}" for arg in _documented_args(fn.__doc__)
                            if arg not in params]
    assert not bad, "documented parameters that are not in the signature:\n" + "\n".join(bad)
