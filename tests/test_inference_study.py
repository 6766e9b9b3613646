"""The inference-drift study end to end on the embedded digits (slow): it writes its results, table and figure,
global compensation keeps a year of PCM drift from ruining the network, and a resumed run reuses every saved
evaluation and gives the same table."""

from __future__ import annotations

import json

import pytest

from experiments import inference_drift


@pytest.mark.slow
def test_study_runs_compensates_and_resumes(tmp_path):
    argv = ["--dataset", "digits", "--epochs", "3", "--lr", "0.5", "--hidden", "32", "--seeds", "1",
            "--devices", "pcm", "--out", str(tmp_path), "--no-progress"]
    first = inference_drift.run(inference_drift.build_parser().parse_args(argv))
    for name in ("results.json", "table.md", "test_error.png"):
        assert (tmp_path / name).exists()
    pcm = first["table_percent"]["float"]["pcm"]
    assert pcm["global"]["1 year"][0] < pcm["none"]["1 year"][0]
    saved = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").iterdir()}
    again = inference_drift.run(inference_drift.build_parser().parse_args([*argv, "--resume"]))
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").iterdir()} == saved  # nothing redone
    assert json.dumps(again["table_percent"]) == json.dumps(first["table_percent"])
