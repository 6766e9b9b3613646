"""The wire study's set-up (`experiments.wire_study`): the emulated array's wires, the scaled device, the runs and
the report from finished runs (no training here: `crossbar.sweep.runs` is tested on its own)."""

from __future__ import annotations

import json
import math

import pytest

from crossbar.training import mlp
from experiments import wire_study as ws


def test_layer_wires_give_the_drop_of_the_emulated_array():
    """rho = r G N^2: a line of n devices on segments r (N / n)^2 has the far-end drop of an N-device line on r."""
    backend = ws.ArraySizeBackend(ws.device_of_resistance(2.4e6), w_max=2.0, pair="reference", array_size=1024,
                                  r_segment=1.5)
    xb = backend.crossbar(65, 64)
    assert float(xb.wires.r_row) == pytest.approx(1.5 * (1024 / 64) ** 2)
    assert float(xb.wires.r_col) == pytest.approx(1.5 * (1024 / 65) ** 2)
    g = 0.5 * (xb.device.g_min + xb.device.g_max)
    assert g == pytest.approx(1 / 2.4e6)
    assert float(xb.wires.r_row) * g * 64**2 == pytest.approx(ws.rho(1024, 2.4e6, 1.5))
    assert xb.dw_min == pytest.approx(ws.CrossbarBackend(ws.gokmen_vlasov(), w_max=2.0).crossbar(65, 64).dw_min)
    assert ws.ArraySizeBackend(ws.gokmen_vlasov(), w_max=2.0).crossbar(65, 64).wires is None


@pytest.mark.slow  # over 6 s; the default run stays under 6 minutes (CI runs the slow tests too)
def test_report_from_finished_runs(tmp_path):
    cfg = mlp.MLPConfig(sizes=(64, 64, 10), epochs=4)
    runs = ws.study_runs(cfg, 1, 1.0)
    assert len({r.name for r in runs}) == len(runs) == 2 + len(ws.NONLINEARITIES) + len(ws.ARRAY_SIZES) * len(
        ws.DEVICE_RESISTANCES)

    def error(run):  # float 3%; disturb fails at k = 3; arrays fail above rho = 0.1
        meta = run.meta
        if meta["series"] == "disturb" and meta["k"] < 5:
            return 0.2
        if meta["series"] == "size" and meta["rho"] > 0.1:
            return 0.5
        return 0.03

    for run in runs[:-1]:  # the last one unfinished
        path = tmp_path / "runs" / run.name
        path.mkdir(parents=True)
        label = "float" if run.meta["series"] == "float" else "crossbar"
        curve = [0.5, 0.1, error(run), error(run), error(run)][1:]
        (path / "results.json").write_text(json.dumps({"epochs_done": 4, "backends": {label: {"test_error": curve}}}))
    summary = ws.write_report(tmp_path, runs, 0.003, {"dataset": "digits", "epochs": 4, "seeds": 1,
                                                      "r_segment": 1.0})
    assert summary["float_test_error"] == pytest.approx(0.03)  # the mean of the last epochs, not the first
    answers = summary["tolerance"]["float"]
    assert answers["smallest_tolerated_nonlinearity"] == 10.0
    assert answers["largest_rho_within_margin"] < 0.1
    # rho(4096, 240 MOhm) = 0.07 passes; the last run (unfinished) is left out.
    assert answers["device_resistance_needed"][4096] == 240e6
    smallest = min(r for r in ws.DEVICE_RESISTANCES if ws.rho(256, r, 1.0) <= 0.1)
    assert answers["device_resistance_needed"][256] == smallest
    assert math.isinf(ws.NONLINEARITIES[-1])
    for name in ("summary.md", "summary.json", "array_size.png", "nonlinearity.png", "rho.png"):
        assert (tmp_path / name).exists()
