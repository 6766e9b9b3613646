"""The NeuroSim-table study: one resumable run per preset, a summary that is those runs' numbers, clear errors."""

from __future__ import annotations

import json

import pytest

from experiments import neurosim_table


@pytest.mark.slow  # trains every preset through the CLI; the ranking is checked on hand-made rows by default
def test_summary_is_the_runs_numbers_and_a_rerun_keeps_finished_devices(tmp_path, capsys):
    argv = ["--only", "neurosim_epiram", "neurosim_alox_hfo2", "--epochs", "1", "--limit-train", "300",
            "--out", str(tmp_path), "--no-progress"]
    summary = neurosim_table.main(argv)
    rows = summary["rows"]
    errors = [r["crossbar_test_error"] for r in rows]
    assert len(rows) == 2 and errors == sorted(errors)  # best first
    for row in rows:
        res = json.loads((tmp_path / row["device"] / "results.json").read_text())
        assert row["crossbar_test_error"] == res["backends"]["crossbar"]["test_error"][-1]
        assert row["float_test_error"] == res["backends"]["float"]["test_error"][-1]
        assert row["neurosim_accuracy"] == neurosim_table.NEUROSIM_ACCURACY[row["device"]]
    assert json.loads((tmp_path / "summary.json").read_text())["rows"] == rows
    assert "EpiRAM" in (tmp_path / "summary.md").read_text() and (tmp_path / "test_error.png").stat().st_size > 0
    capsys.readouterr()
    again = neurosim_table.main(argv)
    assert capsys.readouterr().out.count("finished earlier, kept") == 2 and again["rows"] == rows
    with pytest.raises(SystemExit):  # the runs there are seed 0's: neither kept nor resumed for seed 1
        neurosim_table.main([*argv, "--seed", "1"])
    assert "holds a run with seed 0" in capsys.readouterr().err


def test_rank_correlation_with_neurosim():
    rows = [{"crossbar_test_error": e, "neurosim_accuracy": a} for e, a in ((0.1, 0.9), (0.2, 0.8), (0.3, 0.3))]
    assert neurosim_table.ranks_agree(rows) == pytest.approx(1.0)
    rows[0]["neurosim_accuracy"] = 0.1  # the best here is the worst there
    assert neurosim_table.ranks_agree(rows) == pytest.approx(-0.5)


@pytest.mark.parametrize("argv, message", [(["--only", "neurosim_unobtainium"], "unknown presets"),
                                           (["--epochs", "0"], "--epochs must be >= 1")])
def test_bad_options_name_the_option(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit):
        neurosim_table.main([*argv, "--out", str(tmp_path)])
    assert message in capsys.readouterr().err
