"""MkDocs hooks: pages and figures that live elsewhere in the repository, brought into the site at build time.

- `docs/contributing.md` holds one marker line, replaced by the repository's `ARCHITECTURE.md` with its links
  rewritten from the repository root to the docs folder (`docs/design.md` -> `design.md`), so the file reads
  right on GitHub and on the site, and strict builds check its links.
- The committed figures of `experiments/results/` are published under `results/figures/` (the same relative
  paths), so the results pages show them without a second copy in the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

MARKER = "<!-- ARCHITECTURE.md -->"
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results"
FIGURES = "results/figures"


def _rewrite_links(text: str) -> str:
    """Links relative to the repository root, made relative to `docs/` (links into `docs/` only)."""
    return re.sub(r"\]\(docs/", "](", text)


def on_files(files, config):
    """Add every committed results figure (not those of single runs inside a study) as `results/figures/...`."""
    for png in sorted(RESULTS.rglob("*.png")):
        rel = png.relative_to(RESULTS)
        if "runs" in rel.parts:
            continue
        files.append(File.generated(config, f"{FIGURES}/{rel.as_posix()}", abs_src_path=str(png)))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Replace the marker of `contributing.md` with `ARCHITECTURE.md`."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, _rewrite_links((ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")))
