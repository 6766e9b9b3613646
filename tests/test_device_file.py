"""Device files: any model with its parameter groups survives a JSON round trip, `make_device` and the CLIs
accept `PATH.json`, and bad files give errors naming the file and the bad entry."""

from __future__ import annotations

import json

import pytest

from devices import MODELS, PowerLawDrift, ReadNoise, SoftBounds, Variation
from devices.device_file import device_to_dict, load_device, save_device
from devices.presets import make_device


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_round_trips_through_json(tmp_path, name):
    device = MODELS[name]().validate()
    path = save_device(tmp_path / "d.json", device, source={"files": {"x.csv": "abc"}}, fit={"rmse_S": 1e-7})
    assert load_device(path) == device
    stored = json.loads(path.read_text())
    assert stored["source"]["files"] == {"x.csv": "abc"} and stored["fit"]["rmse_S"] == 1e-7


def test_make_device_takes_a_file_with_overrides(tmp_path):
    device = SoftBounds(dg=1e-8, variation=Variation(c2c=0.2), read_noise=ReadNoise(std=0.01),
                        drift=PowerLawDrift(nu=0.03))
    path = save_device(tmp_path / "fit.json", device)
    loaded = make_device(str(path), {"variation.c2c": 0.1})
    assert loaded.variation.c2c == 0.1 and loaded.dg == 1e-8 and loaded.drift == PowerLawDrift(nu=0.03)


def test_train_mlp_cli_accepts_a_device_file(tmp_path):
    from experiments.train_mlp import build_parser, configure

    path = save_device(tmp_path / "fit.json", SoftBounds(dg=1e-7))
    args = build_parser().parse_args(["--device", str(path), "--epochs", "1", "--out", str(tmp_path / "out")])
    _, backends, _, meta = configure(args)
    assert backends["crossbar"].device == SoftBounds(dg=1e-7) and meta["device"] == str(path)


@pytest.mark.parametrize("change, match", [
    (lambda d: d.update(format="other"), "not a device file"),
    (lambda d: d.update(version=99), "unsupported device file version 99"),
    (lambda d: d.update(model="nope"), "unknown model 'nope'"),
    (lambda d: d["parameters"].update(bogus=1.0), r"unknown parameter\(s\) bogus for SoftBounds"),
    (lambda d: d["parameters"]["variation"].update(type="Nope"), "unknown parameter group type 'Nope'"),
    (lambda d: d["parameters"].update(dg=-1.0), r"`dg` must be > 0"),
])
def test_bad_device_files_name_the_problem(tmp_path, change, match):
    spec = device_to_dict(SoftBounds())
    change(spec)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(ValueError, match=match) as info:
        make_device(str(path))
    assert "bad.json" in str(info.value)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        make_device(str(tmp_path / "none.json"))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        make_device(str(tmp_path / "broken.json"))
