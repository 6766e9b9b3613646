"""The measured example data shipped inside the package: CrossSim v2's RRAM pulse-response curves.

    data = load_pulse_data(example_data_dir() / "set.csv", example_data_dir() / "reset.csv")

The files live in `devices/fit/measured/crosssim_v2_rram/` (declared as package data, so an installed wheel
carries them); their README gives the source, the licence and the sha256 of each file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["EXAMPLE_DATA", "example_data_dir"]

#: Folder of the shipped example, relative to the `devices.fit` package.
EXAMPLE_DATA = ("measured", "crosssim_v2_rram")


def example_data_dir() -> Path:
    """The folder holding the shipped CrossSim v2 RRAM curves (`set.csv`, `reset.csv`, README, licence).

    Returns:
        Path of the folder inside the installed (or checked-out) package.

    Raises:
        FileNotFoundError: if the package was installed without its data (e.g. from a wheel built without
            package data) or from a zip archive, where the files have no path of their own.
    """
    folder = resources.files("devices.fit").joinpath(*EXAMPLE_DATA)
    # A zip import gives a Traversable that is not a Path; the loaders need real files, so say so here.
    if not isinstance(folder, Path) or not (folder / "set.csv").is_file():
        raise FileNotFoundError(
            f"the example data of devices.fit ({'/'.join(EXAMPLE_DATA)}/set.csv, reset.csv) is not on disk at "
            f"{folder}; reinstall the package with its package data (pip install .)"
        )
    return folder
