"""experiments.fit_device: measured files in, fitted device + lookup table + figure + report out, the fitted
device usable by name in the training CLI; a bad file stops it before anything is written."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from devices import Bilayer, Variation
from devices.fit.synthetic import simulate_curves
from devices.presets import make_device
from experiments import fit_device


def write_measurement(folder, n_devices=12):
    """set.csv / reset.csv in the CrossSim layout, simulated from a known bilayer device."""
    device = Bilayer(g_min=1e-6, g_max=11e-6, dg=1e-7, gamma=0.6, variation=Variation(dg_d2d=0.1, c2c=0.2))
    data = simulate_curves(device, n_devices, 120, 120, jax.random.key(0))
    folder.mkdir(parents=True, exist_ok=True)
    for name, curves in (("set.csv", data.up), ("reset.csv", data.down)):
        rows = [",".join(f"rmp{j + 1}" for j in range(n_devices))]
        rows += [",".join(f"{v:.6e}" for v in row) for row in curves.g]
        (folder / name).write_text("\n".join(rows) + "\n")
    return folder


def test_fit_device_writes_devices_figure_and_report(tmp_path):
    data_dir = write_measurement(tmp_path / "data")
    lines = (data_dir / "set.csv").read_text().splitlines()  # a flat column beside the good ones: left out
    (data_dir / "set.csv").write_text("\n".join([f"{lines[0]},flat"] + [f"{row},1.0e-06" for row in lines[1:]]))
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="left out"):
        fits = fit_device.main(["--data-dir", str(data_dir), "--out", str(out), "--models", "bilayer",
                                "constant_step", "--bins", "8"])
    quality = json.loads((out / "fit.json").read_text())["data_quality"]  # columns used and dropped, and why
    assert list(quality["up"]["dropped"]) == ["flat"] and "is flat" in quality["up"]["dropped"]["flat"]
    assert len(quality["up"]["used"]) == 12 and quality["down"]["dropped"] == {}
    assert "## Data quality" in (out / "report.md").read_text() and "column 'flat'" in (out / "report.md").read_text()
    assert {p.name for p in out.iterdir()} >= {"fitted_device.json", "lookup_table.json", "fit.json", "fit.png",
                                               "report.md"}
    assert fits["ranking"][0]["model"] == "bilayer"
    stored = json.loads((out / "fitted_device.json").read_text())
    assert stored["model"] == "bilayer" and stored["source"]["files"].keys() == {"set.csv", "reset.csv"}
    assert stored["fit"]["rmse_S"] > 0 and stored["fit"]["ranked"] == ["bilayer", "constant_step"]
    device = make_device(str(out / "fitted_device.json"))
    assert device.gamma == pytest.approx(0.6, rel=0.1)
    table = make_device(str(out / "lookup_table.json"))
    assert len(table.g_centres) == 8 and np.all(np.diff(table.g_centres) > 0)
    assert "bilayer" in (out / "report.md").read_text()


@pytest.mark.parametrize("break_file", ["uS", "missing"])
def test_a_bad_file_stops_it_before_anything_is_written(tmp_path, capsys, break_file):
    data_dir = write_measurement(tmp_path / "data", n_devices=3)
    if break_file == "uS":
        text = (data_dir / "set.csv").read_text().splitlines()
        text[5] = ",".join(str(float(v) * 1e6) for v in text[5].split(","))
        (data_dir / "set.csv").write_text("\n".join(text))
    else:
        (data_dir / "reset.csv").unlink()
    out = tmp_path / "out"
    with pytest.raises(SystemExit):
        fit_device.main(["--data-dir", str(data_dir), "--out", str(out)])
    assert not out.exists()
    err = capsys.readouterr().err
    assert ("set.csv: column 'rmp1', row 4" in err) if break_file == "uS" else ("reset.csv" in err)


def test_the_default_data_is_the_copy_shipped_in_the_package(tmp_path, monkeypatch):
    import hashlib
    import re

    from devices.fit import example_data_dir

    monkeypatch.delenv(fit_device.DATA_ENV, raising=False)
    shipped = example_data_dir()
    files = fit_device.data_files(fit_device.build_parser().parse_args([]))
    assert files == {"up": shipped / "set.csv", "down": shipped / "reset.csv", "both": None}
    # the shipped README states each file's sha256: the bytes are the ones the committed fit was made from
    readme = (shipped / "README.md").read_text()
    for name in ("set.csv", "reset.csv"):
        stated = re.search(rf"- {re.escape(name)}:.*?sha256 ([0-9a-f]{{64}})", readme, re.S).group(1)
        assert hashlib.sha256((shipped / name).read_bytes()).hexdigest() == stated
    assert (shipped / "LICENSE.crosssim.md").is_file()
    # the environment variable, then --data-dir, take precedence
    monkeypatch.setenv(fit_device.DATA_ENV, str(tmp_path / "env"))
    assert fit_device.data_files(fit_device.build_parser().parse_args([]))["up"] == tmp_path / "env" / "set.csv"
    args = fit_device.build_parser().parse_args(["--data-dir", str(tmp_path / "opt")])
    assert fit_device.data_files(args)["down"] == tmp_path / "opt" / "reset.csv"


def test_help_is_one_sentence_and_out_defaults_to_a_new_directory(tmp_path, monkeypatch):
    parser = fit_device.build_parser()
    text = parser.description
    assert text[0].isupper() and text.endswith(".") and text.count(". ") == 0  # one sentence, ended
    assert parser.parse_args([]).out is None
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fit_device-1").mkdir()
    assert fit_device.new_out_dir() == tmp_path / "fit_device-2"  # never an existing directory

