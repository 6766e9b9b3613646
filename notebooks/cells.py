"""The cell makers shared by the notebook definitions (`make_notebooks.py`, `dynamics_notebooks.py`)."""

from __future__ import annotations

from nbformat.v4 import new_code_cell, new_markdown_cell

OUT = 'OUT_DIR = os.environ.get("NOTEBOOK_OUT_DIR", "results/notebooks")  # figures (PNG) go here'


def params(text: str):
    cell = new_code_cell(text.strip().replace("@OUT@", OUT))
    cell.metadata["tags"] = ["parameters"]
    return cell


def code(text: str):
    return new_code_cell(text.strip())


def md(text: str):
    return new_markdown_cell(text.strip())
